// The labs that exist only on a cluster (k8s/labs/run.sh): listed by `npm run lab -- list`, never run by the local
// runner or the labs test. They are scripted for kind and tested against recording stubs of kubectl, helm and
// istioctl (helm/test/cluster-labs.test.ts); none has run on a real kind cluster yet.
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
    id: 'coredns-outage',
    title: 'CoreDNS scaled to 0: names stop resolving, established connections keep working',
    source: { document: 'seed', ref: 'scenario 3', title: 'service discovery outage (cluster DNS)' },
    runsOn: 'kind (scripted)',
    durationS: 90,
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
];

export const clusterLabById = (id: string) => CLUSTER_LABS.find((l) => l.id === id);
