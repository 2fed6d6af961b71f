//! The vault's opened bytes, decoded back into a connection value: never a panic, and
//! a value read is written back to bytes that read the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thinkfleet_core::value::ConnectionValue;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = ConnectionValue::from_plaintext(data) {
        let bytes = value.to_plaintext();
        let again = ConnectionValue::from_plaintext(&bytes).expect("written bytes read");
        assert_eq!(again.to_plaintext().as_slice(), bytes.as_slice());
        assert_eq!(again.props(), value.props());
    }
});
