// verdictd's allocator settings, read by jemalloc when the process starts
// (docs/security.md, "Memory"). Linked only into verdictd, and only when
// verdictd is linked with jemalloc (not in sanitizer builds).
//
// - background_thread: unused pages are purged by jemalloc's own thread, so
//   memory comes back while verdictd is idle, not only when it allocates
//   again, and never on a request's path;
// - dirty_decay_ms: freed pages are returned within about two seconds of a
//   burst (jemalloc's default is ten); muzzy_decay_ms: 0 skips the lazy
//   MADV_FREE stage, whose pages would still count in RSS.
// The MALLOC_CONF environment variable, read after this, overrides it.

extern "C" {
// NOLINTNEXTLINE: jemalloc looks this symbol up by name.
const char* malloc_conf =
    "background_thread:true,dirty_decay_ms:2000,muzzy_decay_ms:0";
}
