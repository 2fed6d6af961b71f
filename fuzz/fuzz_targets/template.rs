//! The flow reference and template parser and renderer: never a panic; a reference it
//! accepts names a valid external id and round-trips; rendering never invents a value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use thinkfleet_core::{external_id, template};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = template::parse(text);
    if let Ok(id) = template::parse_connection_ref(text) {
        assert!(external_id::is_valid(&id), "accepted an invalid id {id:?}");
        let again = format!("{{{{connections['{id}']}}}}");
        assert_eq!(template::parse_connection_ref(&again).ok(), Some(id));
    }
    let input = json!({"text": text, "list": [text]});
    let _ = template::step_references(&input);
    let output = json!({"reply": "hi", "items": [1, {"name": "x"}]});
    let rendered = template::render(&input, &|step| (step == "ask").then(|| output.clone()));
    if let Ok(Value::Object(fields)) = rendered {
        assert_eq!(fields.len(), 2, "rendering changed the input's shape");
    }
});
