import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import type { IService } from 'kubernetes-models/v1/Service';
import { ACM_CERTIFICATE_ARN } from './aws-arns.ts';
import { DICOM_TLS_PORT, type ListenerFleet } from './listener-fleet.ts';
import { SyncWave, syncWave } from './sync-wave.ts';

const ANNOTATION = 'service.beta.kubernetes.io/aws-load-balancer';

export interface NlbServiceProps {
  /** The pods the load balancer sends DICOM traffic to. */
  readonly fleet: ListenerFleet;
  /** Client CIDRs allowed in (`loadBalancerSourceRanges`, enforced on the NLB security group). */
  readonly sourceCidrs: readonly string[];
  /**
   * Whether the NLB gets private or public addresses.
   * @default 'internal'
   */
  readonly scheme?: 'internal' | 'internet-facing';
  /**
   * ACM certificate for the NLB to terminate TLS on `dicom-tls` (one-way TLS only; mutual TLS needs
   * a fleet that terminates TLS itself).
   * @default - the NLB passes TCP through; TLS, if the fleet serves it, ends in the pod
   */
  readonly certificateArn?: string;
  /**
   * TLS policy of the NLB listener when it terminates TLS.
   * @default 'ELBSecurityPolicy-TLS13-1-2-2021-06'
   */
  readonly sslNegotiationPolicy?: string;
}

/**
 * A `LoadBalancer` Service provisioned by the AWS Load Balancer Controller as an NLB with IP targets
 * (the only kind Fargate supports), client IPs preserved and an HTTP health check on `/readyz`.
 */
export class NlbService extends Construct {
  /** The port clients connect to. */
  public readonly port: number;

  constructor(scope: Construct, id: string, props: NlbServiceProps) {
    super(scope, id);
    const owner = `NlbService ${this.node.path}`;
    const { fleet } = props;
    const scheme = props.scheme ?? 'internal';
    if (props.sourceCidrs.length === 0) {
      throw new Error(`${owner}: sourceCidrs must list at least one CIDR; an empty list opens the load balancer to everyone`);
    }
    const fleetTls = fleet.dicomPort.name === DICOM_TLS_PORT.name;
    if (props.certificateArn !== undefined) {
      if (!ACM_CERTIFICATE_ARN.test(props.certificateArn)) {
        throw new Error(`${owner}: certificateArn must be an ACM certificate ARN, got "${props.certificateArn}"`);
      }
      if (fleetTls) {
        throw new Error(`${owner}: certificateArn terminates TLS at the NLB, but the fleet terminates TLS itself; choose one`);
      }
    }
    const encrypted = fleetTls || props.certificateArn !== undefined;
    if (scheme === 'internet-facing' && !encrypted) {
      throw new Error(`${owner}: an internet-facing load balancer needs TLS (a certificateArn, or a fleet with a TLS Secret)`);
    }

    // The controller only enforces loadBalancerSourceRanges against real client IPs, so preservation stays on;
    // deregistration waits as long as a terminating pod may still be draining associations.
    const targetGroupAttributes = [
      'preserve_client_ip.enabled=true',
      `deregistration_delay.timeout_seconds=${fleet.terminationGracePeriodSeconds}`,
    ].join(',');
    const annotations: Record<string, string> = {
      ...syncWave(SyncWave.WORKLOAD),
      // Set at creation and never changed: changing the type later orphans the load balancer.
      [`${ANNOTATION}-type`]: 'external',
      [`${ANNOTATION}-nlb-target-type`]: 'ip',
      [`${ANNOTATION}-scheme`]: scheme,
      [`${ANNOTATION}-attributes`]: 'load_balancing.cross_zone.enabled=true',
      [`${ANNOTATION}-target-group-attributes`]: targetGroupAttributes,
      // A TCP check on the DICOM port would open and drop associations; /readyz also turns 503 while draining.
      [`${ANNOTATION}-healthcheck-protocol`]: 'http',
      [`${ANNOTATION}-healthcheck-port`]: String(fleet.opsPort.number),
      [`${ANNOTATION}-healthcheck-path`]: '/readyz',
    };
    if (props.certificateArn !== undefined) {
      annotations[`${ANNOTATION}-ssl-cert`] = props.certificateArn;
      // Without ssl-ports the controller would put TLS on every port.
      annotations[`${ANNOTATION}-ssl-ports`] = DICOM_TLS_PORT.name;
      annotations[`${ANNOTATION}-ssl-negotiation-policy`] = props.sslNegotiationPolicy ?? 'ELBSecurityPolicy-TLS13-1-2-2021-06';
    }

    const servicePort = encrypted ? DICOM_TLS_PORT : fleet.dicomPort;
    this.port = servicePort.number;
    const service: IService = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: fleet.name, namespace: fleet.namespace, labels: { ...fleet.labels }, annotations },
      spec: {
        type: 'LoadBalancer',
        // IP targets reach pods directly; node ports would only widen the attack surface.
        allocateLoadBalancerNodePorts: false,
        loadBalancerSourceRanges: [...props.sourceCidrs],
        selector: { ...fleet.selectorLabels },
        ports: [{ name: servicePort.name, port: servicePort.number, targetPort: fleet.dicomPort.name, protocol: 'TCP' }],
      },
    };
    new ApiObject(this, 'Resource', service);
  }
}
