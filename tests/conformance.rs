//! Runs every conformance vector through the native reducer.
//!
//! `SWITCHYARD_BLESS=1` rewrites each vector's `view` from the current
//! reducer (the hand-written `checks` are never rewritten and must still
//! pass); review the diff before committing.

use serde_json::Value;
use switchyard_tests::vectors::{load_all, run};

/// The catalogue demands at least this many vectors.
const MIN_VECTORS: usize = 40;

#[test]
fn conformance_vectors() {
    let bless = std::env::var_os("SWITCHYARD_BLESS").is_some();
    let vectors = load_all();
    assert!(
        vectors.len() >= MIN_VECTORS,
        "expected at least {MIN_VECTORS} vectors, found {}",
        vectors.len()
    );
    let mut failures = Vec::new();
    for vector in vectors {
        let name = vector
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let view = run(&vector.json);
        let got: Value = serde_json::from_str(&view.to_json()).unwrap();

        let checks = vector.json["checks"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: `checks` must be an object"));
        assert!(
            !checks.is_empty(),
            "{name}: a vector needs at least one check"
        );
        for (pointer, expected) in checks {
            match got.pointer(pointer) {
                Some(actual) if actual == expected => {}
                actual => failures.push(format!(
                    "{name}: check {pointer}: expected {expected}, got {}",
                    actual.map_or("<missing>".to_string(), Value::to_string)
                )),
            }
        }

        if bless {
            let mut json = vector.json.clone();
            json["view"] = got;
            let text = serde_json::to_string_pretty(&json).unwrap() + "\n";
            std::fs::write(&vector.path, text).unwrap();
        } else if vector.json.get("view") != Some(&got) {
            failures.push(format!(
                "{name}: view differs\n expected: {}\n      got: {}",
                vector
                    .json
                    .get("view")
                    .map_or("<none>".into(), Value::to_string),
                got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
