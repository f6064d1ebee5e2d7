// Two output names for a step that returns three values.
use zenml::prelude::*;

#[step(outputs(a, b))]
fn split() -> (u8, u8, u8) {
    (1, 2, 3)
}

fn main() {}
