//! `schema.graphql` is the committed API contract; it must equal what the code serves.
//! Regenerate with `UPDATE_SCHEMA=1 cargo test schema`.

#[test]
fn checked_in_schema_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let current = switchboard::graphql::sdl();
    if std::env::var("UPDATE_SCHEMA").is_ok() {
        std::fs::write(path, &current).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == current,
        "schema.graphql is out of date: run `UPDATE_SCHEMA=1 cargo test schema` and commit the result"
    );
}
