//! glibc malloc settings for tensor workloads, applied once at import.
//!
//! By default glibc serves blocks above a (dynamic, at most 32 MiB) threshold
//! with fresh `mmap`s and returns freed memory at the top of each heap to the
//! kernel. A training step allocates and frees the same tens of MiB of
//! activations and gradients every iteration, so each step page-faults and
//! zero-fills all of them again: in the LeNet step that was ~7000 faults and
//! ~30% of the CPU time. Keeping blocks up to 32 MiB on the heap and only
//! trimming beyond 256 MiB of free space lets the next step reuse the pages.
//! The peak is unchanged (the same bytes are live at the worst moment); freed
//! memory stays mapped for reuse, as in PyTorch's CPU runs.
//! `DLCORE_MALLOC_TUNE=0` keeps glibc's defaults.

/// Applies the settings (Linux/glibc only; a no-op elsewhere). Returns
/// whether they were applied.
pub fn tune() -> bool {
    if std::env::var("DLCORE_MALLOC_TUNE").is_ok_and(|v| v == "0") {
        return false;
    }
    imp::tune()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use std::os::raw::c_int;
    extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }
    const M_TRIM_THRESHOLD: c_int = -1;
    const M_MMAP_THRESHOLD: c_int = -3;

    pub fn tune() -> bool {
        // SAFETY: mallopt only changes allocator parameters; glibc accepts
        // both values (32 MiB is its largest mmap threshold on 64-bit).
        unsafe { mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1 }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub fn tune() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glibc_accepts_the_settings() {
        if std::env::var("DLCORE_MALLOC_TUNE").is_err() {
            assert_eq!(super::tune(), cfg!(all(target_os = "linux", target_env = "gnu")));
        }
    }
}
