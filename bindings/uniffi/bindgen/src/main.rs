//! `uniffi-bindgen`, pinned to the uniffi version of `tenantguard-ffi` (the two must match).
fn main() {
    uniffi::uniffi_bindgen_main()
}
