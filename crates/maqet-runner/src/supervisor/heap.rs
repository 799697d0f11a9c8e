//! Keeping the runner's memory what it uses: handing freed heap back to the kernel after a burst
//! of work (start-up, client sessions), and giving large buffers their own mappings.

/// Releases the free memory glibc's allocator holds (a no-op with other C libraries).
pub(super) fn return_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases free memory of glibc's allocator; it touches no
    // allocation in use and is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Buffers from this size on are their own memory mappings: see [`map_large_buffers`].
const MMAP_THRESHOLD: i32 = 256 * 1024;

/// Makes glibc give every allocation of [`MMAP_THRESHOLD`] or more its own mapping, for good.
///
/// By default glibc raises that threshold after freeing a large mapped block (up to 32 MiB), so
/// the next large buffers come from the heap, where growing one copies it and freeing it keeps
/// the memory until a trim. A guest agent can make the runner buffer tens of MiB (one reply, up
/// to its cap); with a fixed threshold such a buffer grows in place (`mremap`) and its memory
/// goes back to the kernel the moment it is freed.
pub(super) fn map_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes a tuning parameter of glibc's allocator; it is safe to call
    // at any time, from any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}
