//! The core without Python: ops, autograd engine and in-place rules.

use dlcore_core::autograd::{backward, grad, GradModeGuard};
use dlcore_core::ops::{self, BinOp, Reduction};
use dlcore_core::{DType, ErrorKind, Tensor};

fn t(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

fn leaf(v: &[f32], shape: &[usize]) -> Tensor {
    let x = t(v, shape);
    x.set_requires_grad(true).unwrap();
    x
}

fn close(a: &Tensor, b: &[f64]) {
    let av = a.to_f64_vec();
    assert_eq!(av.len(), b.len(), "{av:?} vs {b:?}");
    for (x, y) in av.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{av:?} vs {b:?}");
    }
}

#[test]
fn broadcast_add_and_mul_gradients() {
    let a = leaf(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let b = leaf(&[10.0, 20.0, 30.0], &[3]);
    let y = ops::sum(&ops::mul(&ops::add(&a, &b).unwrap(), &a).unwrap(), None, false, None).unwrap();
    backward(&y, None, false, false).unwrap();
    // d/da (a+b)*a = 2a + b ; d/db = sum over rows of a
    close(&a.grad().unwrap(), &[12.0, 24.0, 36.0, 18.0, 30.0, 42.0]);
    close(&b.grad().unwrap(), &[5.0, 7.0, 9.0]);
}

#[test]
fn gradients_accumulate_and_graph_is_freed() {
    let x = leaf(&[2.0], &[1]);
    let y = ops::sum(&ops::mul(&x, &x).unwrap(), None, false, None).unwrap();
    backward(&y, None, true, false).unwrap();
    backward(&y, None, false, false).unwrap();
    close(&x.grad().unwrap(), &[8.0]);
    let again = backward(&y, None, false, false).unwrap_err();
    assert!(again.msg.contains("second time"), "{}", again.msg);
}

#[test]
fn autograd_grad_does_not_touch_dot_grad() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let y = ops::sum(&ops::unary(ops::UnaryOp::Exp, &x).unwrap(), None, false, None).unwrap();
    let g = grad(&[y], &[x.clone()], vec![None], false, false, false).unwrap();
    close(g[0].as_ref().unwrap(), &[1f64.exp(), 2f64.exp()]);
    assert!(x.grad().is_none());
}

#[test]
fn no_grad_records_nothing() {
    let x = leaf(&[1.0], &[1]);
    let y = {
        let _g = GradModeGuard::new(false);
        ops::add(&x, &x).unwrap()
    };
    assert!(!y.requires_grad() && y.is_leaf());
}

#[test]
fn inplace_on_saved_value_is_caught_at_backward() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let h = ops::mul(&x, &Tensor::scalar(1.0, DType::F32)).unwrap();
    let y = ops::unary(ops::UnaryOp::Sin, &h).unwrap(); // sin saves h
    ops::binary_(BinOp::Mul, &h, &Tensor::scalar(2.0, DType::F32), 1.0).unwrap();
    let s = ops::sum(&y, None, false, None).unwrap();
    let e = backward(&s, None, false, false).unwrap_err();
    assert!(e.msg.contains("modified by an inplace operation"), "{}", e.msg);
}

#[test]
fn inplace_on_leaf_requiring_grad_is_refused() {
    let x = leaf(&[1.0], &[1]);
    let e = ops::binary_(BinOp::Add, &x, &Tensor::scalar(1.0, DType::F32), 1.0).unwrap_err();
    assert!(e.msg.contains("leaf Variable"), "{}", e.msg);
}

#[test]
fn inplace_through_a_view_rebases_the_base() {
    let x = leaf(&[1.0, 2.0, 3.0], &[3]);
    let y = ops::mul(&x, &Tensor::scalar(1.0, DType::F32)).unwrap();
    let tail = ops::slice(&y, 0, 1, 3, 1).unwrap();
    ops::binary_(BinOp::Mul, &tail, &Tensor::scalar(3.0, DType::F32), 1.0).unwrap();
    close(&y, &[1.0, 6.0, 9.0]);
    backward(&ops::sum(&y, None, false, None).unwrap(), None, false, false).unwrap();
    close(&x.grad().unwrap(), &[1.0, 3.0, 3.0]);
}

#[test]
fn views_share_memory_and_view_checks_strides() {
    let x = t(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 3]);
    let xt = ops::t(&x).unwrap();
    assert!(!xt.is_contiguous());
    assert_eq!(ops::view(&xt, &[6]).unwrap_err().kind, ErrorKind::Runtime);
    close(&ops::reshape(&xt, &[6]).unwrap(), &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    let row = ops::select(&x, 0, 1).unwrap();
    assert!(row.storage.same(&x.storage));
    close(&row, &[3.0, 4.0, 5.0]);
}

#[test]
fn matmul_matches_hand_computation_and_broadcasts() {
    let a = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let b = t(&[5.0, 6.0, 7.0, 8.0], &[1, 2, 2]);
    let c = ops::matmul(&a, &b).unwrap();
    assert_eq!(c.shape, vec![1, 2, 2]);
    close(&c, &[19.0, 22.0, 43.0, 50.0]);
    let e = ops::matmul(&a, &t(&[1.0, 2.0, 3.0], &[3, 1])).unwrap_err();
    assert!(e.msg.contains("cannot be multiplied"), "{}", e.msg);
}

#[test]
fn softmax_and_fused_cross_entropy() {
    let x = leaf(&[1.0, 2.0, 3.0, 1.0, 1.0, 1.0], &[2, 3]);
    let p = ops::softmax(&x, 1, false).unwrap();
    close(&ops::sum(&p, Some(&[1]), false, None).unwrap(), &[1.0, 1.0]);
    let target = Tensor::from_vec(vec![2i64, 0], &[2]).unwrap();
    let loss = ops::cross_entropy(&x, &target, Reduction::Mean, -100).unwrap();
    let lse0 = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    close(&loss, &[((lse0 - 3.0) + 3f64.ln()) / 2.0]);
    backward(&loss, None, false, false).unwrap();
    let g = x.grad().unwrap().to_f64_vec();
    assert!((g.iter().sum::<f64>()).abs() < 1e-6); // softmax − onehot rows sum to 0
    let bad = Tensor::from_vec(vec![3i64, 0], &[2]).unwrap();
    assert_eq!(ops::cross_entropy(&x, &bad, Reduction::Mean, -100).unwrap_err().kind, ErrorKind::Index);
}

#[test]
fn reductions_over_dims() {
    let x = t(&[1.0, 5.0, 3.0, 4.0, 2.0, 6.0], &[2, 3]);
    close(&ops::sum(&x, Some(&[0]), false, None).unwrap(), &[5.0, 7.0, 9.0]);
    close(&ops::mean(&x, Some(&[1]), false).unwrap(), &[3.0, 4.0]);
    let (v, i) = ops::max_min_dim(&x, 1, false, true).unwrap();
    close(&v, &[5.0, 6.0]);
    assert_eq!(i.to_vec::<i64>(), vec![1, 2]);
    close(&ops::var(&x, None, 1.0, false).unwrap(), &[3.5]);
    assert_eq!(ops::sum(&x, Some(&[2]), false, None).unwrap_err().kind, ErrorKind::Index);
}

#[test]
fn type_promotion_follows_torch() {
    let f = t(&[1.0], &[1]);
    let i = Tensor::from_vec(vec![3i64], &[1]).unwrap();
    assert_eq!(ops::add(&f, &i).unwrap().dtype, DType::F32);
    assert_eq!(ops::div(&i, &i).unwrap().dtype, DType::F32);
    let d0 = Tensor::scalar(2.0, DType::F64);
    assert_eq!(ops::mul(&f, &d0).unwrap().dtype, DType::F32); // a 0-d operand does not widen
    assert_eq!(ops::mul(&i, &d0).unwrap().dtype, DType::F64); // unless of a higher category
}

#[test]
fn sgd_step_matches_formula_and_rejects_duplicates() {
    let p = t(&[1.0, 2.0], &[2]);
    let g = t(&[0.5, -1.0], &[2]);
    let cfg = ops::optim::Config::Sgd(dlcore_core::cpu::optim::sgd::Sgd {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.0,
        nesterov: false,
        weight_decay: 0.0,
        maximize: false,
    });
    let fresh = |n: usize| (0..n).map(|_| ops::optim::ParamState { bufs: vec![None], step: 0.0, aux: 1.0 }).collect();
    let st = ops::optim::step(&cfg, &[p.clone()], &[g.clone()], fresh(1)).unwrap();
    close(&p, &[0.95, 2.1]);
    ops::optim::step(&cfg, &[p.clone()], &[g.clone()], st).unwrap();
    close(&p, &[0.95 - 0.1 * (0.9 * 0.5 + 0.5), 2.1 + 0.1 * (0.9 + 1.0)]);
    let e = ops::optim::step(&cfg, &[p.clone(), p.clone()], &[g.clone(), g], fresh(2)).unwrap_err();
    assert!(e.msg.contains("shares memory"), "{}", e.msg);
}
