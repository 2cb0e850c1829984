/**
 * Valid EKS Fargate vCPU and memory combinations (GiB).
 * @see https://docs.aws.amazon.com/eks/latest/userguide/fargate-pod-configuration.html
 */
const MEMORY_GIB_BY_VCPU: ReadonlyMap<number, readonly number[]> = new Map([
  [0.25, [0.5, 1, 2]],
  [0.5, range(1, 4, 1)],
  [1, range(2, 8, 1)],
  [2, range(4, 16, 1)],
  [4, range(8, 30, 1)],
  [8, range(16, 60, 4)],
  [16, range(32, 120, 8)],
]);

/** Fargate reserves this much of every pod's memory for kubelet, kube-proxy and containerd. */
export const FARGATE_RESERVED_MEMORY_MIB = 256;

function range(from: number, to: number, step: number): number[] {
  const values: number[] = [];
  for (let value = from; value <= to; value += step) values.push(value);
  return values;
}

/** Container requests (= limits) for a pod that should land on exactly one Fargate size. */
export interface FargateResources {
  readonly cpu: string;
  readonly memory: string;
}

/**
 * Returns the requests that make Fargate provision exactly `vcpu` / `memoryGiB`: Fargate adds its
 * reservation to the pod's memory and rounds up to the next combination, so asking for the full
 * size would silently buy the next one. Throws when the combination does not exist.
 */
export function fargateResources(owner: string, vcpu: number, memoryGiB: number): FargateResources {
  const memories = MEMORY_GIB_BY_VCPU.get(vcpu);
  if (memories === undefined) {
    throw new Error(`${owner}: ${vcpu} vCPU is not a Fargate size; use one of ${[...MEMORY_GIB_BY_VCPU.keys()].join(', ')}`);
  }
  if (!memories.includes(memoryGiB)) {
    throw new Error(`${owner}: ${memoryGiB} GiB does not fit ${vcpu} vCPU on Fargate; use one of ${memories.join(', ')} GiB`);
  }
  return {
    cpu: `${vcpu * 1000}m`,
    memory: `${memoryGiB * 1024 - FARGATE_RESERVED_MEMORY_MIB}Mi`,
  };
}
