//! The lenient JSON reader (`proxysched_workload::json::parse`) on arbitrary text: it must end
//! in a value or a `JsonError`, never panic, overflow the stack or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Files are read as UTF-8 (`load` rejects anything else before parsing); the lossy
    // conversion keeps invalid inputs useful instead of discarding them.
    let text = String::from_utf8_lossy(data);
    if let Ok(value) = proxysched_workload::json::parse(&text) {
        // Everything reachable from the root is well formed enough to describe.
        let _ = value.type_name();
    }
});
