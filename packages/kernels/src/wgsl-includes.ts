/**
 * The WGSL files that kernel shaders include (`// #include "..."`, expanded by defineKernel): pieces
 * of declarations shared by several families, none of them a family of its own.
 */
import geluTanh from '../../../shaders/gelu_tanh.wgsl?raw';
import linearRowsParams from '../../../shaders/linear_rows_params.wgsl?raw';
import matvecFusedUnits from '../../../shaders/matvec_fused_units.wgsl?raw';
import matvecUnits from '../../../shaders/matvec_units.wgsl?raw';
import sinCos from '../../../shaders/sin_cos.wgsl?raw';
import tanhSafe from '../../../shaders/tanh_safe.wgsl?raw';
import weightFormats from '../../../shaders/weight_formats.wgsl?raw';
import workgroupSum from '../../../shaders/workgroup_sum.wgsl?raw';

export const WGSL_INCLUDES: Readonly<Record<string, string>> = {
  'weight_formats.wgsl': weightFormats,
  'matvec_units.wgsl': matvecUnits,
  'matvec_fused_units.wgsl': matvecFusedUnits,
  'workgroup_sum.wgsl': workgroupSum,
  'tanh_safe.wgsl': tanhSafe,
  'linear_rows_params.wgsl': linearRowsParams,
  'gelu_tanh.wgsl': geluTanh,
  'sin_cos.wgsl': sinCos,
};
