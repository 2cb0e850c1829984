import { describe, expect, test } from 'vitest';
import { ListenerFleet, type ListenerFleetProps } from '../../charts/listener-fleet.ts';
import { NlbService, type NlbServiceProps } from '../../charts/nlb-service.ts';
import { find, type KubeObject, synthIn } from './fixtures.ts';

const FLEET: ListenerFleetProps = {
  namespace: 'dicom',
  environmentName: 'test',
  image: '111122223333.dkr.ecr.eu-west-1.amazonaws.com/dicom-listener:1.2.3',
  serviceAccountRoleArn: 'arn:aws:iam::111122223333:role/listener',
  region: 'eu-west-1',
  bucket: 'dicom-bucket',
  prefix: '',
  aeTitles: ['DICOMS3'],
  otlpEndpoint: 'http://adot-collector.observability.svc.cluster.local:4318',
};
const CERTIFICATE = 'arn:aws:acm:eu-west-1:111122223333:certificate/12345678-1234-1234-1234-123456789012';
const A = 'service.beta.kubernetes.io/aws-load-balancer';

function synthService(fleet: Partial<ListenerFleetProps> = {}, service: Partial<Omit<NlbServiceProps, 'fleet'>> = {}): KubeObject {
  const objects = synthIn((chart) => {
    new NlbService(chart, 'nlb', {
      fleet: new ListenerFleet(chart, 'fleet', { ...FLEET, ...fleet }),
      sourceCidrs: ['10.0.0.0/8'],
      ...service,
    });
  });
  return find(objects, 'Service', 'dicom-listener');
}

describe('NlbService', () => {
  test('asks the AWS Load Balancer Controller for an internal NLB with IP targets and cross-zone balancing', () => {
    // GIVEN default props WHEN synthesized
    const service = synthService();
    // THEN the controller-specific annotations are set
    expect(service.spec.type).toBe('LoadBalancer');
    expect(service.metadata.annotations).toMatchObject({
      [`${A}-type`]: 'external',
      [`${A}-nlb-target-type`]: 'ip',
      [`${A}-scheme`]: 'internal',
      [`${A}-attributes`]: 'load_balancing.cross_zone.enabled=true',
    });
  });

  test('preserves client IPs and keeps deregistering targets as long as a pod may drain', () => {
    // GIVEN a fleet with a 120 s drain (grace 145 s) WHEN synthesized
    const service = synthService({ drainTimeoutSeconds: 120 });
    // THEN the target group waits the whole grace period
    expect(service.metadata.annotations?.[`${A}-target-group-attributes`])
      .toBe('preserve_client_ip.enabled=true,deregistration_delay.timeout_seconds=145');
  });

  test('health-checks /readyz over HTTP on the ops port, not the DICOM port', () => {
    // GIVEN default props WHEN synthesized
    const service = synthService();
    // THEN the health check targets the ops endpoint
    expect(service.metadata.annotations).toMatchObject({
      [`${A}-healthcheck-protocol`]: 'http',
      [`${A}-healthcheck-port`]: '8080',
      [`${A}-healthcheck-path`]: '/readyz',
    });
  });

  test('admits only the configured source CIDRs and allocates no node ports', () => {
    // GIVEN two source CIDRs WHEN synthesized
    const service = synthService({}, { sourceCidrs: ['10.1.0.0/16', '192.168.0.0/24'] });
    // THEN both are the load balancer's source ranges
    expect(service.spec.loadBalancerSourceRanges).toEqual(['10.1.0.0/16', '192.168.0.0/24']);
    expect(service.spec.allocateLoadBalancerNodePorts).toBe(false);
  });

  test('can be internet-facing when traffic is encrypted', () => {
    // GIVEN an internet-facing NLB in front of a TLS fleet WHEN synthesized
    const service = synthService({ tlsSecretName: 'tls' }, { scheme: 'internet-facing' });
    // THEN the scheme annotation follows
    expect(service.metadata.annotations?.[`${A}-scheme`]).toBe('internet-facing');
  });

  test('passes TLS through to the pods by default, so mutual TLS ends in the listener', () => {
    // GIVEN a fleet that terminates TLS WHEN synthesized
    const service = synthService({ tlsSecretName: 'tls' });
    // THEN port 2762 goes to the pod's TLS port and the NLB holds no certificate
    expect(service.spec.ports).toEqual([{ name: 'dicom-tls', port: 2762, targetPort: 'dicom-tls', protocol: 'TCP' }]);
    expect(Object.keys(service.metadata.annotations ?? {}).filter((key) => key.includes('-ssl-'))).toEqual([]);
  });

  test('terminates TLS at the NLB with an ACM certificate on the dicom-tls port only', () => {
    // GIVEN a certificate and a plain fleet WHEN synthesized
    const service = synthService({}, { certificateArn: CERTIFICATE });
    // THEN TLS 1.3/1.2 ends at the NLB and plain DICOM continues to the pod
    expect(service.metadata.annotations).toMatchObject({
      [`${A}-ssl-cert`]: CERTIFICATE,
      [`${A}-ssl-ports`]: 'dicom-tls',
      [`${A}-ssl-negotiation-policy`]: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
    });
    expect(service.spec.ports).toEqual([{ name: 'dicom-tls', port: 2762, targetPort: 'dicom', protocol: 'TCP' }]);
  });

  test('serves plain DICOM on 11112 when nothing is encrypted', () => {
    // GIVEN a plain fleet and no certificate WHEN synthesized
    const service = synthService();
    // THEN the only port is 11112
    expect(service.spec.ports).toEqual([{ name: 'dicom', port: 11112, targetPort: 'dicom', protocol: 'TCP' }]);
  });

  test('selects exactly the fleet pods', () => {
    // GIVEN default props WHEN synthesized THEN the selector is the fleet's selector labels
    expect(synthService().spec.selector).toEqual({ 'app.kubernetes.io/name': 'dicom-listener', 'app.kubernetes.io/instance': 'test' });
  });

  test.each([
    ['no source CIDRs', {}, { sourceCidrs: [] }, /sourceCidrs must list at least one CIDR/],
    ['a certificate in front of a TLS fleet', { tlsSecretName: 'tls' }, { certificateArn: CERTIFICATE }, /the fleet terminates TLS itself; choose one/],
    ['an internet-facing NLB with plain DICOM', {}, { scheme: 'internet-facing' as const }, /an internet-facing load balancer needs TLS/],
    ['a certificate that is not an ACM ARN', {}, { certificateArn: 'arn:aws:iam::111122223333:server-certificate/x' }, /certificateArn must be an ACM certificate ARN/],
  ])('rejects %s', (_case, fleet, service, message) => {
    expect(() => synthService(fleet, service)).toThrow(message);
  });
});
