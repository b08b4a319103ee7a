// Every image a Kubernetes object would run: containers, initContainers and ephemeralContainers of a Pod or of the
// pod template of each carrier (Deployment, ReplicaSet, ReplicationController, StatefulSet, DaemonSet, Job, CronJob),
// and image volumes (`volumes[].image.reference`, Kubernetes 1.31+). Anything else carries no pod spec.

import { VouchError } from '../common/errors.ts';

export interface ImageUse {
  image: string;
  /** where it is used, e.g. spec.template.spec.initContainers[0] (name app) */
  path: string;
  /** the container (by field and name, or position when unnamed) or volume it runs in: what an UPDATE compares */
  slot: string;
}

export const CARRIERS = ['Pod', 'Deployment', 'ReplicaSet', 'ReplicationController', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'] as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The pod spec of an object and its path, or undefined for kinds that carry none. */
export function podSpecOf(object: unknown, requestKind?: string): { spec: Obj; path: string } | undefined {
  if (!isObj(object)) return undefined;
  // the AdmissionReview's request.kind is authoritative; an object may come without its own kind
  const kind = requestKind ?? object['kind'];
  const spec = isObj(object['spec']) ? object['spec'] : undefined;
  if (kind === 'Pod') return spec ? { spec, path: 'spec' } : undefined;
  if (kind === 'CronJob') {
    const jt = isObj(spec?.['jobTemplate']) ? (spec['jobTemplate']) : undefined;
    const tpl = isObj(jt?.['spec']) && isObj((jt['spec'])['template']) ? ((jt['spec'])['template']) : undefined;
    return tpl && isObj(tpl['spec']) ? { spec: tpl['spec'], path: 'spec.jobTemplate.spec.template.spec' } : undefined;
  }
  if (typeof kind === 'string' && (CARRIERS as readonly string[]).includes(kind)) {
    const tpl = isObj(spec?.['template']) ? (spec['template']) : undefined;
    return tpl && isObj(tpl['spec']) ? { spec: tpl['spec'], path: 'spec.template.spec' } : undefined;
  }
  return undefined;
}

/** Images of a pod spec, in order, each with its path. A malformed image field is ADMISSION_REVIEW_INVALID. */
export function imagesOfPodSpec(spec: Obj, path: string): ImageUse[] {
  const out: ImageUse[] = [];
  for (const field of ['initContainers', 'containers', 'ephemeralContainers']) {
    const list = spec[field];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new VouchError('ADMISSION_REVIEW_INVALID', `${path}.${field} is not a list`);
    list.forEach((c: unknown, i) => {
      const at = `${path}.${field}[${String(i)}]`;
      if (!isObj(c)) throw new VouchError('ADMISSION_REVIEW_INVALID', `${at} is not an object`);
      const image = c['image'];
      if (typeof image !== 'string' || image === '') throw new VouchError('ADMISSION_REVIEW_INVALID', `${at} has no image`);
      const name = typeof c['name'] === 'string' ? c['name'] : undefined;
      out.push({ image, path: `${at}${name === undefined ? '' : ` (${name})`}`, slot: `${field}/${name ?? `#${String(i)}`}` });
    });
  }
  const volumes = spec['volumes'];
  if (Array.isArray(volumes)) {
    volumes.forEach((v: unknown, i) => {
      if (!isObj(v)) return;
      const img = isObj(v['image']) ? v['image'] : undefined;
      if (!img) return;
      const ref = img['reference'];
      const at = `${path}.volumes[${String(i)}].image.reference`;
      if (typeof ref !== 'string' || ref === '') throw new VouchError('ADMISSION_REVIEW_INVALID', `${at} is missing`);
      out.push({ image: ref, path: at, slot: `volumes/${typeof v['name'] === 'string' ? v['name'] : `#${String(i)}`}` });
    });
  }
  return out;
}

/** Every image an object runs (none for kinds without a pod spec). */
export function imagesOf(object: unknown, requestKind?: string): ImageUse[] {
  const ps = podSpecOf(object, requestKind);
  return ps ? imagesOfPodSpec(ps.spec, ps.path) : [];
}

/** The distinct images of a list of uses, first use first. */
export function distinctImages(uses: ImageUse[]): string[] {
  return [...new Set(uses.map((u) => u.image))];
}
