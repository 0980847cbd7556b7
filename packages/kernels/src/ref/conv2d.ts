/**
 * CPU reference for the conv2d family (f64 sums, f32 results): channels-last x [inH, inW, inC], w in the
 * checkpoint layout [outC, inC / groups, kh, kw] (already decoded to f32), zeros outside the input.
 */
export function conv2dRef(
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  a: { inH: number; inW: number; inC: number; outC: number; kh: number; kw: number; strideH: number; strideW: number; padTop: number; padLeft: number; outH: number; outW: number; groups: number },
): Float32Array {
  const icg = a.inC / a.groups;
  const ocg = a.outC / a.groups;
  const out = new Float32Array(a.outH * a.outW * a.outC);
  for (let oy = 0; oy < a.outH; oy++) {
    for (let ox = 0; ox < a.outW; ox++) {
      for (let oc = 0; oc < a.outC; oc++) {
        const c0 = Math.floor(oc / ocg) * icg;
        let acc = bias ? bias[oc] : 0;
        for (let ky = 0; ky < a.kh; ky++) {
          const iy = oy * a.strideH - a.padTop + ky;
          if (iy < 0 || iy >= a.inH) continue;
          for (let kx = 0; kx < a.kw; kx++) {
            const ix = ox * a.strideW - a.padLeft + kx;
            if (ix < 0 || ix >= a.inW) continue;
            for (let i = 0; i < icg; i++) acc += w[((oc * icg + i) * a.kh + ky) * a.kw + kx] * x[(iy * a.inW + ix) * a.inC + c0 + i];
          }
        }
        out[(oy * a.outW + ox) * a.outC + oc] = acc;
      }
    }
  }
  return out;
}
