/** CPU references for the resample family (f64 math, f32 results) on channels-last [h, w, c] maps, as gemma3n_vision_ref. */
export function resizeNearestRef(x: Float32Array, inH: number, inW: number, c: number, outH: number, outW: number): Float32Array {
  const out = new Float32Array(outH * outW * c);
  for (let oy = 0; oy < outH; oy++) {
    const iy = Math.floor(oy * (inH / outH));
    for (let ox = 0; ox < outW; ox++) {
      const ix = Math.floor(ox * (inW / outW));
      for (let ch = 0; ch < c; ch++) out[(oy * outW + ox) * c + ch] = x[(iy * inW + ix) * c + ch];
    }
  }
  return out;
}

export function avgPoolRef(x: Float32Array, inH: number, inW: number, c: number, kh: number, kw: number): Float32Array {
  const outH = Math.floor(inH / kh);
  const outW = Math.floor(inW / kw);
  const out = new Float32Array(outH * outW * c);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) s += x[((oy * kh + i) * inW + ox * kw + j) * c + ch];
        out[(oy * outW + ox) * c + ch] = s / (kh * kw);
      }
    }
  }
  return out;
}

function axis(nIn: number, nOut: number): Array<[number, number, number]> {
  return Array.from({ length: nOut }, (_, o) => {
    const src = Math.max((o + 0.5) * (nIn / nOut) - 0.5, 0);
    const i0 = Math.min(Math.floor(src), nIn - 1);
    return [i0, Math.min(i0 + 1, nIn - 1), src - i0];
  });
}

/** torch interpolate(mode='bilinear', align_corners=False), no antialias. */
export function resizeBilinearRef(x: Float32Array, inH: number, inW: number, c: number, outH: number, outW: number): Float32Array {
  const out = new Float32Array(outH * outW * c);
  const hs = axis(inH, outH);
  const ws = axis(inW, outW);
  const at = (y: number, xx: number, ch: number) => x[(y * inW + xx) * c + ch];
  for (let oy = 0; oy < outH; oy++) {
    const [y0, y1, hl] = hs[oy];
    for (let ox = 0; ox < outW; ox++) {
      const [x0, x1, wl] = ws[ox];
      for (let ch = 0; ch < c; ch++) {
        const left = at(y0, x0, ch) * (1 - hl) + at(y1, x0, ch) * hl;
        const right = at(y0, x1, ch) * (1 - hl) + at(y1, x1, ch) * hl;
        out[(oy * outW + ox) * c + ch] = left * (1 - wl) + right * wl;
      }
    }
  }
  return out;
}
