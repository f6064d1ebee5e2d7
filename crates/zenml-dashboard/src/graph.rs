//! Graphs of runs and lineage as inline SVG: `layout-rs` places the nodes and routes the
//! edges (a Sugiyama-style layered layout), and [`SvgCanvas`], its rendering backend here,
//! draws them with links and classes, escaping every label.

use std::fmt::Write;

use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::StyleAttr;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;
use maud::{Markup, PreEscaped};
use zenml_pipeline::Lineage;
use zenml_pipeline::lineage::{EdgeKind, LineageNode, short_type};

/// Draws `lineage` as an `<svg id="{id}">`, step runs as boxes linking to their pages,
/// artifacts as ellipses linking to theirs; `root` (an artifact) is highlighted.
pub(crate) fn lineage_svg(lineage: &Lineage, id: &str) -> Markup {
    if lineage.nodes.is_empty() {
        return maud::html! { p { "Nothing to draw." } };
    }
    let mut graph = VisualGraph::new(Orientation::TopToBottom);
    let mut handles = std::collections::HashMap::new();
    for node in &lineage.nodes {
        let (shape, size, properties) = match node {
            LineageNode::StepRun(step) => {
                let mut label = step.step.clone();
                if lineage.root.is_some() {
                    label = format!("{}\n{}", step.step, step.run);
                }
                if step.status == zenml_metadata_store::StepStatus::Cached {
                    label.push_str("\n(cached)");
                }
                let width = label_width(&label);
                (
                    ShapeKind::new_box(&label),
                    Point::new(width, 24.0 * label.lines().count() as f64 + 16.0),
                    format!("/steps/{}\tdag-step\t{}", step.id, step.status.as_str()),
                )
            }
            LineageNode::Artifact(artifact) => {
                let label = format!(
                    "{}\n{}",
                    artifact.output_name,
                    short_type(&artifact.rust_type)
                );
                let class = if lineage.root.as_deref() == Some(artifact.id.as_str()) {
                    "dag-artifact dag-root"
                } else {
                    "dag-artifact"
                };
                (
                    ShapeKind::new_circle(&label),
                    Point::new(label_width(&label) + 20.0, 54.0),
                    format!("/artifacts/{}\t{class}\t", artifact.id),
                )
            }
        };
        let element = Element::create_with_properties(
            shape,
            StyleAttr::new(Color::fast("black"), 1, None, 6, 13),
            Orientation::LeftToRight,
            size,
            properties,
        );
        handles.insert(node.id().to_owned(), graph.add_node(element));
    }
    for edge in &lineage.edges {
        let (Some(&from), Some(&to)) = (handles.get(&edge.from), handles.get(&edge.to)) else {
            continue;
        };
        let arrow = match edge.kind {
            EdgeKind::CachedFrom => Arrow::simple_with_properties("cached from", "dashed"),
            _ => Arrow::simple(""),
        };
        graph.add_edge(arrow, from, to);
    }
    let mut canvas = SvgCanvas::default();
    graph.do_it(false, false, false, &mut canvas);
    canvas.finish(id)
}

/// A label's width: about 7.5 px a character of its longest line at 13 px.
fn label_width(label: &str) -> f64 {
    let longest = label.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    (longest as f64 * 7.5 + 24.0).max(80.0)
}

/// Escapes text for SVG content and double-quoted attributes, as maud escapes the pages.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let _ = maud::Escaper::new(&mut out).write_str(text);
    out
}

/// A rendering backend writing SVG elements; node properties (`href \t class \t status`)
/// make a link around the node's shape and label.
struct SvgCanvas {
    body: String,
    max: Point,
    /// Whether a link is open (closed after the node's label).
    open_link: bool,
}

impl Default for SvgCanvas {
    fn default() -> Self {
        SvgCanvas {
            body: String::new(),
            max: Point::new(0.0, 0.0),
            open_link: false,
        }
    }
}

impl SvgCanvas {
    fn grow(&mut self, p: Point) {
        self.max = Point::new(self.max.x.max(p.x), self.max.y.max(p.y));
    }

    fn open(&mut self, properties: Option<String>) {
        self.close();
        let Some(properties) = properties else { return };
        let mut parts = properties.split('\t');
        let (href, class, status) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let _ = write!(
            self.body,
            r#"<a href="{}" class="{}" data-status="{}">"#,
            escape(href),
            escape(class),
            escape(status)
        );
        self.open_link = true;
    }

    fn close(&mut self) {
        if self.open_link {
            self.body.push_str("</a>");
            self.open_link = false;
        }
    }

    fn finish(mut self, id: &str) -> Markup {
        self.close();
        let (width, height) = (self.max.x + 20.0, self.max.y + 20.0);
        PreEscaped(format!(
            r#"<svg id="{}" class="graph" xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}"><defs><marker id="arrowhead" markerWidth="10" markerHeight="7" refX="10" refY="3.5" orient="auto"><polygon points="0 0, 10 3.5, 0 7"/></marker></defs>{}</svg>"#,
            escape(id),
            self.body
        ))
    }
}

impl RenderBackend for SvgCanvas {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        _look: &StyleAttr,
        properties: Option<String>,
        _clip: Option<ClipHandle>,
    ) {
        self.open(properties);
        self.grow(Point::new(xy.x + size.x, xy.y + size.y));
        let _ = write!(
            self.body,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="6"/>"#,
            xy.x, xy.y, size.x, size.y
        );
    }

    fn draw_line(
        &mut self,
        start: Point,
        stop: Point,
        _look: &StyleAttr,
        _properties: Option<String>,
    ) {
        self.grow(start);
        self.grow(stop);
        let _ = write!(
            self.body,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
            start.x, start.y, stop.x, stop.y
        );
    }

    fn draw_circle(
        &mut self,
        xy: Point,
        size: Point,
        _look: &StyleAttr,
        properties: Option<String>,
    ) {
        self.open(properties);
        self.grow(Point::new(xy.x + size.x / 2.0, xy.y + size.y / 2.0));
        let _ = write!(
            self.body,
            r#"<ellipse cx="{:.1}" cy="{:.1}" rx="{:.1}" ry="{:.1}"/>"#,
            xy.x,
            xy.y,
            size.x / 2.0,
            size.y / 2.0
        );
    }

    fn draw_text(&mut self, xy: Point, text: &str, _look: &StyleAttr) {
        let lines: Vec<&str> = text.lines().collect();
        let first = xy.y - (lines.len() as f64 - 1.0) * 8.0;
        self.body
            .push_str("<text text-anchor=\"middle\" dominant-baseline=\"middle\">");
        for (i, line) in lines.iter().enumerate() {
            let _ = write!(
                self.body,
                r#"<tspan x="{:.1}" y="{:.1}">{}</tspan>"#,
                xy.x,
                first + i as f64 * 16.0,
                escape(line)
            );
        }
        self.body.push_str("</text>");
        self.close();
    }

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        dashed: bool,
        _head: (bool, bool),
        _look: &StyleAttr,
        properties: Option<String>,
        text: &str,
    ) {
        self.close();
        if path.len() < 2 {
            return;
        }
        for (a, b) in path {
            self.grow(*a);
            self.grow(*b);
        }
        let mut d = format!(
            "M {:.1} {:.1} C {:.1} {:.1}, {:.1} {:.1}, {:.1} {:.1}",
            path[0].0.x,
            path[0].0.y,
            path[0].1.x,
            path[0].1.y,
            path[1].0.x,
            path[1].0.y,
            path[1].1.x,
            path[1].1.y
        );
        for (a, b) in path.iter().skip(2) {
            let _ = write!(d, " S {:.1} {:.1}, {:.1} {:.1}", a.x, a.y, b.x, b.y);
        }
        let class = if dashed || properties.as_deref() == Some("dashed") {
            "edge dashed"
        } else {
            "edge"
        };
        let _ = write!(
            self.body,
            r#"<path class="{class}" d="{d}" marker-end="url(#arrowhead)"><title>{}</title></path>"#,
            escape(text)
        );
    }

    fn create_clip(&mut self, _xy: Point, _size: Point, _rounded_px: usize) -> ClipHandle {
        0
    }
}
