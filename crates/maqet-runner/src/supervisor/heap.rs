//! Handing freed heap back to the kernel after a burst of work (start-up, client sessions), so
//! that an idle runner's memory is what it still uses, not what it once needed.

/// Releases the free memory glibc's allocator holds (a no-op with other C libraries).
pub(super) fn return_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases free memory of glibc's allocator; it touches no
    // allocation in use and is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
