//! `dual!`: exports each listed method twice, blocking (on the internal runtime) and as an
//! `*_async` twin (Kotlin `suspend`, Swift `async`), from one body.

/// Writes a `#[uniffi::export]` impl with the blocking methods and a tokio-backed one with
/// their `*_async` twins. Each body is an async block returning `Result<T, TenantguardError>`.
macro_rules! dual {
    (impl $T:ident { $(
        $(#[doc = $doc:literal])*
        fn $name:ident / $name_async:ident (&$s:ident $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty $body:block
    )* }) => {
        #[uniffi::export]
        impl $T { $(
            $(#[doc = $doc])*
            pub fn $name(&$s $(, $arg: $ty)*) -> std::result::Result<$ret, $crate::error::TenantguardError> {
                $crate::runtime::block_on_in($crate::runtime::CallId::call_id($s), async move $body)
            }
        )* }

        #[uniffi::export(async_runtime = "tokio")]
        impl $T { $(
            $(#[doc = $doc])*
            #[doc = ""]
            #[doc = "Suspending form (Kotlin `suspend`, Swift `async`)."]
            pub async fn $name_async(&$s $(, $arg: $ty)*) -> std::result::Result<$ret, $crate::error::TenantguardError> {
                $crate::runtime::in_call($crate::runtime::CallId::call_id($s), async move $body).await
            }
        )* }
    };
}

pub(crate) use dual;
