#pragma once
// Eigen's vectorised natural logarithm for inputs known to be finite and positive (internal to
// the library: the log-normalised efficacy, src/net/network.cpp).
#include <Eigen/Core>

namespace dalenet::detail {

// Eigen 3.4's plog_float (Eigen/src/Core/arch/Default/GenericPacketMathFunctions.h) step by step,
// without the parts that only inputs outside (0, +inf) reach: pfrexp_generic's handling of
// subnormals, zeros, infinities and NaNs (the input is first raised to the smallest normal float,
// as plog_float does, so none of them remain) and the final selects for x < 0, x = 0, x = +inf
// and NaN. For finite x > 0 the result is plog_float's, bit for bit
// (Efficacy.PacketLogMatchesEigensLog checks it); for other inputs it is undefined.
template <typename Packet>
Packet plog_finite_positive(Packet x) {
  namespace ei = Eigen::internal;
  using PacketI = typename ei::unpacket_traits<Packet>::integer_packet;
  const Packet cst_1 = ei::pset1<Packet>(1.0F);
  const Packet cst_neg_half = ei::pset1<Packet>(-0.5F);
  const Packet cst_min_norm_pos = ei::pset1frombits<Packet>(0x00800000U);
  const Packet cst_cephes_sqrthf = ei::pset1<Packet>(0.707106781186547524F);
  const Packet cst_cephes_log_p0 = ei::pset1<Packet>(7.0376836292E-2F);
  const Packet cst_cephes_log_p1 = ei::pset1<Packet>(-1.1514610310E-1F);
  const Packet cst_cephes_log_p2 = ei::pset1<Packet>(1.1676998740E-1F);
  const Packet cst_cephes_log_p3 = ei::pset1<Packet>(-1.2420140846E-1F);
  const Packet cst_cephes_log_p4 = ei::pset1<Packet>(+1.4249322787E-1F);
  const Packet cst_cephes_log_p5 = ei::pset1<Packet>(-1.6668057665E-1F);
  const Packet cst_cephes_log_p6 = ei::pset1<Packet>(+2.0000714765E-1F);
  const Packet cst_cephes_log_p7 = ei::pset1<Packet>(-2.4999993993E-1F);
  const Packet cst_cephes_log_p8 = ei::pset1<Packet>(+3.3333331174E-1F);

  x = ei::pmax(x, cst_min_norm_pos);
  // pfrexp_generic for a normal, finite, positive x: the mantissa in [0.5, 1) and the exponent.
  Packet e = ei::pcast<PacketI, Packet>(ei::plogical_shift_right<23>(ei::preinterpret<PacketI>(x)));
  e = ei::padd(e, ei::pset1<Packet>(-126.0F));
  x = ei::por(ei::pand(x, ei::pset1frombits<Packet>(~0x7f800000U)), ei::pset1<Packet>(0.5F));

  // From here on plog_float's own lines.
  const Packet mask = ei::pcmp_lt(x, cst_cephes_sqrthf);
  const Packet tmp = ei::pand(x, mask);
  x = ei::psub(x, cst_1);
  e = ei::psub(e, ei::pand(cst_1, mask));
  x = ei::padd(x, tmp);
  const Packet x2 = ei::pmul(x, x);
  const Packet x3 = ei::pmul(x2, x);
  Packet y = ei::pmadd(cst_cephes_log_p0, x, cst_cephes_log_p1);
  Packet y1 = ei::pmadd(cst_cephes_log_p3, x, cst_cephes_log_p4);
  Packet y2 = ei::pmadd(cst_cephes_log_p6, x, cst_cephes_log_p7);
  y = ei::pmadd(y, x, cst_cephes_log_p2);
  y1 = ei::pmadd(y1, x, cst_cephes_log_p5);
  y2 = ei::pmadd(y2, x, cst_cephes_log_p8);
  y = ei::pmadd(y, x3, y1);
  y = ei::pmadd(y, x3, y2);
  y = ei::pmul(y, x3);
  y = ei::pmadd(cst_neg_half, x2, y);
  x = ei::padd(x, y);
  return ei::pmadd(e, ei::pset1<Packet>(static_cast<float>(EIGEN_LN2)), x);
}

}  // namespace dalenet::detail
