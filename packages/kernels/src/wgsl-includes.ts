/**
 * The WGSL files that kernel shaders include (`// #include "..."`, expanded by defineKernel): pieces
 * of declarations shared by several families, none of them a family of its own.
 */
import linearRowsParams from '../../../shaders/linear_rows_params.wgsl?raw';
import matvecUnits from '../../../shaders/matvec_units.wgsl?raw';
import tanhSafe from '../../../shaders/tanh_safe.wgsl?raw';
import weightFormats from '../../../shaders/weight_formats.wgsl?raw';
import workgroupSum from '../../../shaders/workgroup_sum.wgsl?raw';

export const WGSL_INCLUDES: Readonly<Record<string, string>> = {
  'weight_formats.wgsl': weightFormats,
  'matvec_units.wgsl': matvecUnits,
  'workgroup_sum.wgsl': workgroupSum,
  'tanh_safe.wgsl': tanhSafe,
  'linear_rows_params.wgsl': linearRowsParams,
};
