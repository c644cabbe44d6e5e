#!/bin/sh
# A pre-traffic hook (bluegreen.toml [[hooks]] point = "pre-traffic"): every instance of the new
# color answers /health directly, before the load balancer sends it a single user. bluegreen runs
# it with BLUEGREEN_TO_GROUP (the new color's Auto Scaling group) and the run's facts in the
# environment; exit non-zero and the release rolls back. Needs the AWS CLI and a network path to
# the instances (a runner in the VPC).
set -eu
: "${BLUEGREEN_TO_GROUP:?run me as a bluegreen hook}"
ids=$(aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names "$BLUEGREEN_TO_GROUP" \
      --query 'AutoScalingGroups[0].Instances[].InstanceId' --output text)
[ -n "$ids" ] || { echo "no instances in $BLUEGREEN_TO_GROUP" >&2; exit 1; }
# shellcheck disable=SC2086 # one argument per instance id
ips=$(aws ec2 describe-instances --instance-ids $ids \
      --query 'Reservations[].Instances[].PrivateIpAddress' --output text)
for ip in $ips; do
    body=$(curl -fsS --max-time 5 "http://$ip/health") || { echo "$ip: /health failed" >&2; exit 1; }
    echo "$ip: $body"
done
echo "smoke ok: $BLUEGREEN_TO_COLOR runs $BLUEGREEN_AMI on $(echo "$ips" | wc -w) instance(s)"
