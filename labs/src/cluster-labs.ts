// The labs that exist only on a cluster (k8s/labs/run.sh): listed by `npm run lab -- list`, never run by the local
// runner or the labs test. They are scripted for kind and tested against recording stubs of kubectl, helm, istioctl,
// kind and docker (helm/test/cluster-labs*.test.ts); none has run on a real kind cluster yet.
import type { LabSource } from './lab';

export interface ClusterLab {
  id: string;
  title: string;
  source: LabSource;
  /** 'kind (scripted)': a script for kind, proven against stubs only. */
  runsOn: 'kind (scripted)';
  /** Estimated break -> reset on kind (rollouts dominate); not measured. */
  durationS: number;
}

export const CLUSTER_LABS: ClusterLab[] = [
  {
    id: 'mesh-cert-rotation',
    title: 'Mesh CA rotated without a trust bundle: mTLS between old and new certificates fails',
    source: { document: 'seed', ref: 'scenario 1', title: 'certificate rotation breaking mTLS' },
    runsOn: 'kind (scripted)',
    durationS: 600,
  },
  {
    id: 'mesh-latency',
    title: 'Starved, unscoped gateway sidecar: CPU throttling and the whole mesh in its config',
    source: {
      document: 'seed',
      ref: 'scenario 2',
      title: 'mesh latency at scale (sidecar resources, Sidecar scope)',
    },
    runsOn: 'kind (scripted)',
    durationS: 300,
  },
  {
    id: 'coredns-outage',
    title: 'CoreDNS scaled to 0: names stop resolving, established connections keep working',
    source: { document: 'seed', ref: 'scenario 3', title: 'service discovery outage (cluster DNS)' },
    runsOn: 'kind (scripted)',
    durationS: 90,
  },
  {
    id: 'istiod-outage',
    title: 'istiod scaled to 0: sidecars route by stale endpoints, new pods get no certificate',
    source: { document: 'seed', ref: 'scenario 3', title: 'service discovery outage (control plane)' },
    runsOn: 'kind (scripted)',
    durationS: 240,
  },
  {
    id: 'call-graph-edge',
    title: 'A call-graph edge removed: the mesh denies gateway -> inventory (RBAC: access denied)',
    source: {
      document: 'seed',
      ref: 'scenario 3',
      title: 'service discovery outage (a call-graph edge removed)',
    },
    runsOn: 'kind (scripted)',
    durationS: 180,
  },
  {
    id: 'drain-without-pdb',
    title: 'Drain without a PodDisruptionBudget: the PostgreSQL volume goes with its node',
    source: {
      document: 'seed',
      ref: 'scenario 6',
      title: 'data loss in a Kubernetes upgrade (drain, reclaim policy)',
    },
    runsOn: 'kind (scripted)',
    durationS: 300,
  },
  {
    id: 'pvc-retention',
    title: 'StatefulSet PVC retention Delete: recreating PostgreSQL in an upgrade deletes its data',
    source: {
      document: 'seed',
      ref: 'scenario 6',
      title: 'data loss in a Kubernetes upgrade (PVC retention, backup and restore)',
    },
    runsOn: 'kind (scripted)',
    durationS: 420,
  },
  {
    id: 'mesh-retry-storm',
    title: 'The storm overlay multiplies inventory calls; the defaults and a retry budget do not',
    source: {
      document: 'seed',
      ref: 'scenario 7',
      title: 'synchronous chains and retry storms (mesh retries)',
    },
    runsOn: 'kind (scripted)',
    durationS: 240,
  },
  {
    id: 'mesh-canary-rollback',
    title: 'A faulty inventory canary at 25% fails its gRPC calls until k8s/canary.sh rolls it back',
    source: { document: 'book', ref: 'section 9.4', title: 'canary releases and rollback' },
    runsOn: 'kind (scripted)',
    durationS: 240,
  },
  {
    id: 'mesh-fault-injection',
    title: 'Istio VirtualService fault: 1 s delay and 50% aborts on inventory',
    source: { document: 'book', ref: 'section 5.3', title: 'fault injection with Istio' },
    runsOn: 'kind (scripted)',
    durationS: 180,
  },
  {
    id: 'outlier-detection',
    title: 'Istio outlier detection ejects a failing inventory pod',
    source: {
      document: 'book',
      ref: 'section 5.4',
      title: 'circuit breaking: DestinationRule outlierDetection',
    },
    runsOn: 'kind (scripted)',
    durationS: 300,
  },
  {
    id: 'autoscaling',
    title: 'An in-cluster load generator (autocannon Job) saturates one gateway; the HPA scales it out',
    source: {
      document: 'book',
      ref: 'section 10.5',
      title: 'autoscaling under load (HorizontalPodAutoscaler, metrics-server)',
    },
    runsOn: 'kind (scripted)',
    durationS: 480,
  },
  {
    id: 'multi-cluster',
    title:
      'Two kind clusters: overlapping pod ranges break cross-cluster calls; distinct ranges restore them',
    source: {
      document: 'seed',
      ref: 'scenarios 5, 9',
      title: 'multi-cluster networking and cross-region latency',
    },
    runsOn: 'kind (scripted)',
    durationS: 600,
  },
];

export const clusterLabById = (id: string) => CLUSTER_LABS.find((l) => l.id === id);
