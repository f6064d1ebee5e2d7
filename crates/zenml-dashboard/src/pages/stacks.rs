//! Stacks and flavors: `/stacks`, `/flavors`.

use axum::extract::State;
use maud::html;

use super::*;
use crate::api::load;

/// `GET /stacks`: every stack's components with their flavors and settings; secret
/// settings are named, their values never shown.
pub(crate) async fn stacks(State(state): State<AppState>) -> PageResult {
    let served = state.stack.clone();
    let stacks = state
        .backend
        .call(move |stores| load::stacks(stores, &served))
        .await?;
    Ok(layout(
        "Stacks",
        html! {
            table #stacks {
                thead { tr { th { "stack" } th { "component" } th { "kind" } th { "flavor" } th { "settings" } } }
                tbody {
                    @for stack in &stacks {
                        @for component in &stack.components {
                            tr {
                                td { (stack.name) @if stack.served { " (shown here)" } }
                                td { (component.name) }
                                td { (component.kind) }
                                td { a href="/flavors" { (component.flavor) } }
                                td {
                                    code { (value_text(&component.settings)) }
                                    @for key in &component.secret_keys { br; code { (key) " = ****" } }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// `GET /flavors`: every flavor this program links.
pub(crate) async fn flavors() -> PageResult {
    let flavors = load::flavors()?;
    Ok(layout(
        "Flavors",
        html! {
            table #flavors {
                thead { tr { th { "kind" } th { "flavor" } th { "description" } th { "crate" } } }
                tbody {
                    @for flavor in &flavors {
                        tr { td { (flavor.kind) } td { (flavor.name) } td { (flavor.description) } td { code { (flavor.source) } } }
                    }
                }
            }
        },
    ))
}
