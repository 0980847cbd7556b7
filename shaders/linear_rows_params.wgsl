// The Params of the shaders that multiply many rows by a weight (matmul.wgsl, matvec_rows.wgsl): x has
// `rows` rows of in_features; row m of the result goes to out[m * out_stride + out_offset + n], n <
// out_features; tiles_n is the number of output-column tiles in the grid (the column tile varies fastest
// in the linear workgroup index). Declarations only.

struct Params {
  rows: u32,
  in_features: u32,
  out_features: u32,
  out_offset: u32,
  out_stride: u32,
  tiles_n: u32,
  _pad0: u32,
  _pad1: u32,
}
