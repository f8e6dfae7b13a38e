//! CPU kernels, one file per family. Kernels take plain slices and sizes;
//! validation happened in `ops/`.

pub mod conv;
pub mod copy;
pub mod elementwise;
pub mod fastmath;
pub mod float;
pub mod gemm;
pub mod loss;
pub mod malloc;
pub mod membw;
pub mod optim;
pub mod peak;
pub mod reduce;
pub mod rnn;
pub mod simd;
// CNN kernels (issue 4)
pub mod activation;
pub mod interp;
pub mod norm;
pub mod layernorm; // sequence models (issue 5)
pub mod attention;
pub mod pooling; // (`pool` is the thread pool below)

pub use float::Float;

/// Below this many elements a kernel stays on the calling thread: waking the
/// pool costs more than the work (a few microseconds).
pub const PAR_MIN: usize = 1 << 15;

/// Sets the size of the global rayon pool (first call wins for the global
/// pool; later calls replace a private pool used by `install`).
pub fn set_num_threads(n: usize) -> crate::error::Result<()> {
    pool::set(n)
}
pub fn num_threads() -> usize {
    pool::current()
}

/// Runs `f` inside dlcore's thread pool.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    pool::install(f)
}

mod pool {
    use crate::error::{Error, Result};
    use std::sync::{Arc, RwLock};

    static POOL: RwLock<Option<Arc<rayon::ThreadPool>>> = RwLock::new(None);

    pub fn set(n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::value("set_num_threads: the number of threads must be positive"));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| Error::runtime(format!("set_num_threads: {e}")))?;
        *POOL.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(pool));
        Ok(())
    }

    fn get() -> Option<Arc<rayon::ThreadPool>> {
        POOL.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn current() -> usize {
        get().map_or_else(rayon::current_num_threads, |p| p.current_num_threads())
    }

    pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
        match get() {
            Some(p) => p.install(f),
            None => f(),
        }
    }
}
