// An output of type Vec<f64> wired into an input of type String.
use zenml::prelude::*;

#[step]
fn load() -> Vec<f64> {
    vec![1.0]
}

#[step]
fn shout(text: String) -> String {
    text.to_uppercase()
}

#[pipeline]
fn wrong() {
    let data = load();
    shout(data);
}

fn main() {}
