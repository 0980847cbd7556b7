/** GPU memory a piece of work allocates, counted at the device: the bytes of the buffers it creates. */
export async function bytesMade<T>(device: GPUDevice, f: () => Promise<T>): Promise<{ value: T; bytes: number }> {
  const create = device.createBuffer.bind(device);
  let bytes = 0;
  device.createBuffer = (d) => ((bytes += d.size), create(d));
  try {
    return { value: await f(), bytes };
  } finally {
    device.createBuffer = create;
  }
}
