//! Element types and the promotion rules PyTorch uses for them.

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    I64,
    F32,
    F64,
}

impl DType {
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I64 => "int64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }
    pub fn from_name(name: &str) -> Result<DType> {
        Ok(match name {
            "bool" => DType::Bool,
            "int64" | "long" => DType::I64,
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            _ => return Err(Error::type_(format!("dlcore does not support dtype '{name}'"))),
        })
    }
    pub fn size(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::I64 | DType::F64 => 8,
            DType::F32 => 4,
        }
    }
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
    /// Category used by promotion: bool < integer < floating.
    fn category(self) -> u8 {
        match self {
            DType::Bool => 0,
            DType::I64 => 1,
            DType::F32 | DType::F64 => 2,
        }
    }
}

/// Result dtype of a binary op, following torch.result_type: a zero-dim
/// operand only decides the dtype when it is of a higher category than the
/// dimensioned one (so `float32_tensor * float64_scalar_tensor` stays float32).
pub fn promote(a: DType, a_dim0: bool, b: DType, b_dim0: bool) -> DType {
    if a_dim0 == b_dim0 {
        return a.max(b);
    }
    let (dimmed, zero) = if a_dim0 { (b, a) } else { (a, b) };
    if zero.category() > dimmed.category() {
        zero
    } else {
        dimmed
    }
}

/// Rust element types the kernels are generic over.
pub trait Element: Copy + Send + Sync + 'static + PartialOrd + std::fmt::Debug {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    fn zero() -> Self;
    fn one() -> Self;
}

macro_rules! element {
    ($t:ty, $d:expr, $zero:expr, $one:expr, |$x:ident| $to:expr, |$v:ident| $from:expr) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                let $x = self;
                $to
            }
            #[inline(always)]
            fn from_f64($v: f64) -> Self {
                $from
            }
            #[inline(always)]
            fn zero() -> Self {
                $zero
            }
            #[inline(always)]
            fn one() -> Self {
                $one
            }
        }
    };
}
element!(f32, DType::F32, 0.0, 1.0, |x| x as f64, |v| v as f32);
element!(f64, DType::F64, 0.0, 1.0, |x| x, |v| v);
element!(i64, DType::I64, 0, 1, |x| x as f64, |v| v as i64);
element!(bool, DType::Bool, false, true, |x| if x { 1.0 } else { 0.0 }, |v| v != 0.0);

/// Runs `$body` with `$T` bound to the Rust type of `$dtype`.
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::tensor::DType::F32 => {
                #[allow(unused_imports)]
                use $crate::tensor::Element as _;
                type $T = f32;
                $body
            }
            $crate::tensor::DType::F64 => {
                #[allow(unused_imports)]
                use $crate::tensor::Element as _;
                type $T = f64;
                $body
            }
            $crate::tensor::DType::I64 => {
                #[allow(unused_imports)]
                use $crate::tensor::Element as _;
                type $T = i64;
                $body
            }
            $crate::tensor::DType::Bool => {
                #[allow(unused_imports)]
                use $crate::tensor::Element as _;
                type $T = bool;
                $body
            }
        }
    };
}

/// Like `with_dtype!` but only for floating dtypes; others are a TypeError.
#[macro_export]
macro_rules! with_float {
    ($dtype:expr, $op:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::tensor::DType::F32 => {
                #[allow(unused_imports)]
                use $crate::tensor::Element as _;
                type $T = f32;
                $body
            }
            $crate::tensor::DType::F64 => {
                #[allow(unused_imports)]
                use $crate::tensor::Element as _;
                type $T = f64;
                $body
            }
            other => {
                return Err($crate::error::Error::type_(format!(
                    "{}: expected a floating point tensor, got {}",
                    $op,
                    other.name()
                )))
            }
        }
    };
}
