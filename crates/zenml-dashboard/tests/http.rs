//! The dashboard over HTTP, in process: pages and API on a repository whose records hold
//! HTML and script in every free-text place, the API's errors, the token, the headers, and
//! that no route writes. (The browser tests drive real runs through Chromium.)

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::Served;
use serde_json::{Value, json};
use zenml_artifact_store::ObjectPath;
use zenml_dashboard::{Dashboard, DashboardOptions};
use zenml_metadata_store::{
    ArtifactRecord, MetadataEntry, NewRun, Resource, RunStatus, StepRunRecord, StepRunWrite,
    StepStatus,
};
use zenml_pipeline::Client;
use zenml_sqlite as _;
use zenml_stack::Repository;

/// Text that would run if a page did not escape it.
const HOSTILE: &str = r#"<script>alert("x")</script><img src=x onerror="alert('y')">&amp;"#;

/// A repository with a completed run (a step with hostile parameters, metadata and a JSON
/// artifact holding hostile text) and a failed run with a hostile error, served with
/// `token`.
fn serve(token: Option<&str>) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let client = Client::open(&repo, None).unwrap();
    let store = client.stack().metadata_store.as_ref();
    let artifacts = client.stack().artifact_store.as_ref();
    let now = 1_800_000_000_000;
    let mut ids = json!({});
    for (i, status) in [RunStatus::Completed, RunStatus::Failed]
        .into_iter()
        .enumerate()
    {
        let run = store
            .create_run(&NewRun {
                id: uuid(),
                pipeline_name: "hostile".to_owned(),
                name: format!("hostile-{i}"),
                started_at: now + i as i64,
                config: json!({"note": HOSTILE}),
                stack: json!({"metadata_store": {"flavor": "sqlite"}}),
                spec: Value::Null,
                lease_expires_at: None,
            })
            .unwrap();
        let step_id = uuid();
        let artifact_id = uuid();
        let path = format!("hostile/train/model/{artifact_id}");
        artifacts
            .put(
                &ObjectPath::new(&format!("{path}/data.json")).unwrap(),
                serde_json::to_string(&json!({"html": HOSTILE}))
                    .unwrap()
                    .as_bytes(),
            )
            .unwrap();
        let failed = status == RunStatus::Failed;
        store
            .record_step_run(&StepRunWrite {
                step: StepRunRecord {
                    id: step_id.clone(),
                    run_id: run.id.clone(),
                    name: "train".to_owned(),
                    status: if failed {
                        StepStatus::Failed
                    } else {
                        StepStatus::Completed
                    },
                    started_at: now,
                    ended_at: now + 5,
                    code_hash: "0".repeat(64),
                    cache_key: None,
                    parameters: json!({"comment": HOSTILE, "lr": 0.1 * (i + 1) as f64}),
                    error: failed.then(|| HOSTILE.to_owned()),
                    original_step_run_id: None,
                    cache_invalidated_at: None,
                    attempt: 1,
                },
                inputs: Vec::new(),
                new_outputs: if failed {
                    Vec::new()
                } else {
                    vec![ArtifactRecord {
                        id: artifact_id.clone(),
                        uri: format!("{}/{path}", artifacts.uri()),
                        artifact_store_uri: artifacts.uri(),
                        path: path.clone(),
                        rust_type: "serde_json::Value".to_owned(),
                        materializer_id: "zenml.json".to_owned(),
                        materializer_version: 1,
                        content_hash: "0".repeat(64),
                        size: 10,
                        producer_step_run_id: step_id.clone(),
                        output_name: "model".to_owned(),
                        created_at: now,
                    }]
                },
                reused_outputs: Vec::new(),
                metadata: vec![MetadataEntry {
                    resource: Resource::StepRun(step_id.clone()),
                    key: "accuracy".to_owned(),
                    value: json!(HOSTILE),
                }],
                artifact_labels: Vec::new(),
            })
            .unwrap();
        store
            .finish_run(&run.id, status, now + 10, failed.then_some(HOSTILE))
            .unwrap();
        ids[format!("run{i}")] = json!(run.id);
        ids[format!("step{i}")] = json!(step_id);
        if !failed {
            ids["artifact"] = json!(artifact_id);
        }
    }
    common::serve(dir, &repo, token, ids)
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn id(served: &Served, key: &str) -> String {
    served.ids[key].as_str().unwrap().to_owned()
}

#[test]
fn every_page_escapes_what_users_wrote() {
    let served = serve(None);
    let pages = [
        "/pipelines".to_owned(),
        "/runs".to_owned(),
        format!("/runs/{}", id(&served, "run0")),
        format!("/runs/{}", id(&served, "run1")),
        format!("/steps/{}", id(&served, "step0")),
        format!("/steps/{}", id(&served, "step1")),
        format!("/artifacts/{}", id(&served, "artifact")),
        format!("/artifacts/{}/lineage", id(&served, "artifact")),
        format!(
            "/compare?runs={}&runs={}",
            id(&served, "run0"),
            id(&served, "run1")
        ),
    ];
    for page in &pages {
        let reply = served.get(page);
        assert_eq!(reply.status, 200, "{page}: {}", reply.body);
        assert!(
            !reply.body.contains("<script>alert") && !reply.body.contains("<img src=x"),
            "{page} holds unescaped markup:\n{}",
            reply.body
        );
        assert!(
            reply
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/html")),
            "{page}"
        );
        let policy = reply.header("content-security-policy").unwrap_or_default();
        assert!(
            policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"),
            "{page}: {policy}"
        );
        assert_eq!(
            reply.header("x-content-type-options"),
            Some("nosniff"),
            "{page}"
        );
        assert!(
            reply
                .header("server-timing")
                .is_some_and(|t| t.starts_with("app;dur="))
        );
        // The only script is the compiled-in file: no inline script at all.
        assert_eq!(
            reply.body.matches("<script").count(),
            1,
            "{page}: one script element, the app's file"
        );
        assert!(
            reply
                .body
                .contains(r#"<script src="/static/app.js" defer></script>"#)
        );
    }
    // The hostile text is shown, escaped, where it was written.
    let step = served.get(&format!("/steps/{}", id(&served, "step1")));
    assert!(
        step.body
            .contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;")
    );
    let artifact = served.get(&format!("/artifacts/{}", id(&served, "artifact")));
    assert!(
        artifact.body.contains("class=\"preview-json\""),
        "{}",
        artifact.body
    );
    assert!(artifact.body.contains("&lt;script&gt;"));
    let compare = served.get(&format!(
        "/compare?runs={}&runs={}",
        id(&served, "run0"),
        id(&served, "run1")
    ));
    assert!(
        compare.body.contains("class=\"differs\""),
        "the learning rates differ"
    );
}

#[test]
fn the_api_pages_reports_and_names_its_errors() {
    let served = serve(None);
    let runs = served.get("/api/v1/runs?per_page=1");
    assert_eq!(runs.status, 200);
    let runs = runs.json();
    assert_eq!(
        (runs["total"].as_u64(), runs["per_page"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(runs["items"][0]["name"], "hostile-1", "newest first");
    assert_eq!(runs["items"][0]["step_runs"], 1);
    let failed = served.get("/api/v1/runs?status=failed").json();
    assert_eq!(failed["total"], 1);
    assert_eq!(
        failed["items"][0]["error"], HOSTILE,
        "JSON holds the text as written"
    );
    for (query, parameter) in [
        ("/api/v1/runs?page=0", "page"),
        ("/api/v1/runs?per_page=x", "per_page"),
        ("/api/v1/runs?status=done", "status"),
        ("/api/v1/runs?sort=size", "sort"),
        ("/api/v1/compare?runs=a", "runs"),
    ] {
        let reply = served.get(query);
        assert_eq!(reply.status, 400, "{query}");
        assert_eq!(reply.json()["parameter"], parameter, "{query}");
    }
    for path in [
        "/api/v1/runs/no-such-run",
        "/api/v1/steps/no-such-step",
        "/api/v1/artifacts/no-such-artifact",
        "/api/v1/no-such-endpoint",
        "/api/v1/runs?pipeline=no-such-pipeline",
    ] {
        let reply = served.get(path);
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
        assert!(reply.json()["error"].is_string(), "{path}");
    }
    let step = served
        .get(&format!("/api/v1/steps/{}", id(&served, "step0")))
        .json();
    assert_eq!(step["metrics"][0]["key"], "accuracy");
    assert_eq!(step["outputs"][0]["name"], "model");
    let preview = served
        .get(&format!(
            "/api/v1/artifacts/{}/preview",
            id(&served, "artifact")
        ))
        .json();
    assert_eq!(preview["kind"], "json");
    let lineage = served
        .get(&format!(
            "/api/v1/artifacts/{}/lineage?depth=2",
            id(&served, "artifact")
        ))
        .json();
    assert_eq!(lineage["nodes"].as_array().map(Vec::len), Some(2));

    // The OpenAPI document lists every endpoint, each read-only.
    let document = served.get("/api/v1/openapi.json").json();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/runs",
        "/runs/{id}",
        "/steps/{id}",
        "/artifacts/{id}/preview",
        "/compare",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    assert!(
        paths
            .values()
            .all(|item| item.as_object().unwrap().keys().all(|m| m == "get")),
        "every operation is a GET"
    );
}

#[test]
fn nothing_writes() {
    let served = serve(None);
    let run = id(&served, "run0");
    for (method, path) in [
        ("POST", "/api/v1/runs".to_owned()),
        ("DELETE", format!("/api/v1/runs/{run}")),
        (
            "PUT",
            format!("/api/v1/artifacts/{}", id(&served, "artifact")),
        ),
        ("POST", format!("/runs/{run}")),
    ] {
        let reply = served.request(method, &path, &[], "{}");
        assert_eq!(reply.status, 405, "{method} {path}");
    }
    // A path that names a file is a page name, never read from disk.
    let reply = served.get("/static/../../../../etc/passwd");
    assert_ne!(reply.status, 200);
    assert!(!reply.body.contains("root:"));
}

#[test]
fn a_token_guards_everything_but_the_login() {
    let served = serve(Some("s3cret-token"));
    let api = served.get("/api/v1/runs");
    assert_eq!(api.status, 401);
    assert_eq!(api.body, r#"{"error":"unauthorized"}"#);
    let wrong = served.request("GET", "/api/v1/runs", &["Authorization: Bearer nope"], "");
    assert_eq!(wrong.status, 401);
    let page = served.get("/runs");
    assert_eq!(page.status, 401);
    assert!(page.body.contains("id=\"login\"") && !page.body.contains("hostile"));
    let right = served.request(
        "GET",
        "/api/v1/runs",
        &["Authorization: Bearer s3cret-token"],
        "",
    );
    assert_eq!(right.status, 200);

    let refused = served.request(
        "POST",
        "/login",
        &["Content-Type: application/x-www-form-urlencoded"],
        "token=guess",
    );
    assert_eq!(refused.status, 401);
    assert!(refused.header("set-cookie").is_none());
    let login = served.request(
        "POST",
        "/login",
        &["Content-Type: application/x-www-form-urlencoded"],
        "token=s3cret-token",
    );
    assert_eq!(login.status, 303);
    let cookie = login.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("s3cret-token"),
        "the cookie does not hold the token"
    );
    let session = cookie.split(';').next().unwrap();
    let with_cookie = served.request("GET", "/runs", &[&format!("Cookie: {session}")], "");
    assert_eq!(with_cookie.status, 200);
    assert!(with_cookie.body.contains("hostile-0"));
}

#[test]
fn binding_beyond_loopback_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let error = Dashboard::bind(
        &repo,
        DashboardOptions {
            host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            stack: None,
            token: None,
        },
    )
    .unwrap_err();
    assert!(error.to_string().contains("--token-env"), "{error}");
}
