// An output type that no materializer can store.
use zenml::prelude::*;

struct Opaque;

#[step]
fn make() -> Opaque {
    Opaque
}

fn main() {}
