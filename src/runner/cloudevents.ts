// The CloudEvent for a run's current condition, exactly as Tekton's events controller builds it: attributes and the
// v1beta1 payload come from the tekton room (tekton/events.ts), the CloudEvents SDK makes it an event.
import { CloudEvent } from 'cloudevents';
import { eventAttributes, eventData } from '../tekton/events.ts';
import type { PipelineRun, TaskRun } from '../tekton/types.ts';

export function cloudEventFor(run: TaskRun | PipelineRun): CloudEvent<unknown> {
  const attrs = eventAttributes(run);
  return new CloudEvent<unknown>({ ...attrs, time: new Date().toISOString(), data: eventData(run) }, true);
}
