// Kotlin conveniences over the generated bindings, compiled into the same jar. Conversion
// only: the wait is the one the core put in the error.
package tenantguard

/**
 * How long to wait before retrying the refused action: the core's retry-after, which every
 * [TenantguardException.RateLimited] a guard throws carries. Null only for an exception not
 * made by tenantguard.
 */
val TenantguardException.RateLimited.retryAfter: java.time.Duration?
    get() = message?.let { rateLimitedRetryAfter(it) }
