//! Prints the JSON Schema of item events' `detail`: `cargo run -p weft --example events_schema > docs/events.schema.json`.

fn main() {
    print!("{}", weft::api::openapi::events_schema());
}
