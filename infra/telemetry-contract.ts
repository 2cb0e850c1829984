/**
 * Names shared with the listener and the charts (the ADOT collector and the Fargate log router).
 * Log group names derive from the cluster name, which reaches the charts through the
 * environment config, so the stack and the cluster meet without another field.
 */

/** The listener's counters as the collector's EMF exporter publishes them. */
export const LISTENER_METRICS = {
  namespace: 'DicomDestination',
  /** Instances received; `status_class` is `failure` when the listener answered with a failure status. */
  instances: { metricName: 'dicom_instances_total', dimension: 'status_class', failure: 'failure' },
  /** Association requests; `outcome` is `rejected` when the listener sent A-ASSOCIATE-RJ. */
  associations: { metricName: 'dicom_associations_total', dimension: 'outcome', rejected: 'rejected' },
} as const;

/** Log group of the collector's EMF exporter (the charts' `awsemf.log_group_name`). */
export function metricsLogGroupName(clusterName: string): string {
  return `/dicom-destination/${clusterName}/metrics`;
}

/** Log group of the Fargate log router (the charts' `aws-logging` ConfigMap). */
export function applicationLogGroupName(clusterName: string): string {
  return `/dicom-destination/${clusterName}/application`;
}
