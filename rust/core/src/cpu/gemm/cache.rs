//! Cache sizes, read once at run time, that the GEMM block sizes come from.
//!
//! Linux: /sys/devices/system/cpu/cpu0/cache/index*/{level,type,size}.
//! Elsewhere, or if sysfs is unreadable, typical sizes of current x86 server
//! cores (32 KiB L1d, 1 MiB L2, 8 MiB L3), which give sane, not optimal,
//! blocking.

use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSizes {
    /// Per core L1 data cache, bytes.
    pub l1d: usize,
    /// Per core (or per core pair) unified L2, bytes.
    pub l2: usize,
    /// Last-level cache as seen by one core (shared), bytes.
    pub l3: usize,
}

pub const FALLBACK: CacheSizes = CacheSizes {
    l1d: 32 << 10,
    l2: 1 << 20,
    l3: 8 << 20,
};

pub fn sizes() -> CacheSizes {
    static SIZES: OnceLock<CacheSizes> = OnceLock::new();
    *SIZES.get_or_init(|| detect().unwrap_or(FALLBACK))
}

/// "48K", "2048K", "32M", "1G" or plain bytes.
fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (num, mul) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1 << 10),
        'M' | 'm' => (&s[..s.len() - 1], 1 << 20),
        'G' | 'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.trim().parse::<usize>().ok().map(|v| v * mul)
}

fn detect() -> Option<CacheSizes> {
    let dir = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    let mut found = FALLBACK;
    let mut any = false;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let p = entry.path();
        let read = |f: &str| std::fs::read_to_string(p.join(f)).ok();
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
        else {
            continue;
        };
        let Some(bytes) = parse_size(&size).filter(|&b| b >= 1024) else {
            continue;
        };
        match (level.trim(), kind.trim()) {
            ("1", "Data") => found.l1d = bytes,
            ("2", "Unified") | ("2", "Data") => found.l2 = bytes,
            ("3", "Unified") => found.l3 = bytes,
            _ => continue,
        }
        any = true;
    }
    any.then_some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sysfs_sizes() {
        assert_eq!(parse_size("32K\n"), Some(32 << 10));
        assert_eq!(parse_size("32M"), Some(32 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn detected_sizes_are_plausible() {
        let s = sizes();
        assert!(
            s.l1d >= 4 << 10 && s.l2 >= s.l1d && s.l3 >= 1 << 10,
            "{s:?}"
        );
    }
}
