// A parameter's default of the wrong type.
use zenml::prelude::*;

#[step]
fn load(rows: Param<u32>) -> Vec<f64> {
    vec![0.0; *rows as usize]
}

#[pipeline]
fn wrong() {
    load("many");
}

fn main() {}
