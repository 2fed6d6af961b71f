//! The encryption key's text form: never a panic; a key read is 32 bytes that read the
//! same from their hex form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thinkfleet_core::key_text::parse_key;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(key) = parse_key(text) {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_key(&hex).as_deref(), Some(&*key));
    }
});
