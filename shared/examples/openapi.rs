//! Prints the app API's OpenAPI document: `cargo run -p weft --example openapi > docs/openapi.json`.

fn main() {
    print!("{}", weft::api::openapi::document());
}
