#!/usr/bin/env bash
# Brings vouch up on a local kind cluster, for users who have Docker (and kind, kubectl; tkn optional):
# Tekton Pipelines + Triggers, the vouch image, the sidecar (kubectl apply -k sidecar/), Tekton's CloudEvents pointed
# at it, the Tasks, the agent-pr-verify Pipeline and the GitHub Triggers. Then it prints how to start a run.
# Not run by the test suite (it needs Docker and the network); tests validate every manifest it applies instead.
#
#   hack/kind-up.sh            # cluster "vouch"; KIND_CLUSTER, TEKTON_PIPELINE_VERSION, TEKTON_TRIGGERS_VERSION,
#                              # CERT_MANAGER_VERSION override
#   kind delete cluster --name vouch   # to tear it down
set -euo pipefail

cd "$(dirname "$0")/.."
CLUSTER=${KIND_CLUSTER:-vouch}
PIPELINE_VERSION=${TEKTON_PIPELINE_VERSION:-v1.15.0}
TRIGGERS_VERSION=${TEKTON_TRIGGERS_VERSION:-latest}
CERT_MANAGER_VERSION=${CERT_MANAGER_VERSION:-v1.16.2}
IMAGE=ghcr.io/vouch-dev/vouch:0.1.0
RELEASES=https://storage.googleapis.com/tekton-releases

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "kind-up: needs $tool on PATH" >&2; exit 2; }
done
release() { # component version -> URL of its release manifests
  if [ "$2" = latest ]; then echo "$RELEASES/$1/latest"; else echo "$RELEASES/$1/previous/$2"; fi
}

if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER"
fi
kubectl config use-context "kind-$CLUSTER"

echo "== Tekton Pipelines $PIPELINE_VERSION and Triggers $TRIGGERS_VERSION"
kubectl apply -f "$(release pipeline "$PIPELINE_VERSION")/release.yaml"
kubectl apply -f "$(release triggers "$TRIGGERS_VERSION")/release.yaml"
kubectl apply -f "$(release triggers "$TRIGGERS_VERSION")/interceptors.yaml"
kubectl -n tekton-pipelines wait --for=condition=Available deployment --all --timeout=300s

echo "== cert-manager $CERT_MANAGER_VERSION (the admission webhook's certificate, sidecar/certificate.yaml)"
kubectl apply -f "https://github.com/cert-manager/cert-manager/releases/download/$CERT_MANAGER_VERSION/cert-manager.yaml"
kubectl -n cert-manager wait --for=condition=Available deployment --all --timeout=300s

echo "== the vouch image ($IMAGE), built here and loaded into the cluster's node"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

echo "== the sidecar"
kubectl apply -f sidecar/namespace.yaml
if ! kubectl -n vouch get secret vouch-signing-key >/dev/null 2>&1; then
  keydir=$(mktemp -d)
  trap 'rm -rf "$keydir"' EXIT
  # the key is generated inside the image, so nothing but Docker is needed; unencrypted, held only by the Secret
  docker run --rm --user "$(id -u):$(id -g)" -v "$keydir:/keys" "$IMAGE" keys generate --out /keys/signing
  # signing.pub: the key the admission policy trusts (sidecar/admission-policy.yaml)
  kubectl -n vouch create secret generic vouch-signing-key --from-file=signing.key="$keydir/signing.key" \
    --from-file=signing.pub="$keydir/signing.pub"
  cp "$keydir/signing.pub" ./vouch-signing.pub
  echo "public key: ./vouch-signing.pub"
fi
if ! kubectl -n vouch get configmap vouch-reviewer-keys >/dev/null 2>&1; then
  # the demo's DEMO-ONLY reviewers (hack/demo/keys/): anyone can sign as them, so this cluster is for trying vouch only
  kubectl -n vouch create configmap vouch-reviewer-keys --from-file=demo-reviewer.pub=hack/demo/keys/demo-reviewer.pub \
    --from-file=demo-security.pub=hack/demo/keys/demo-security.pub
fi
kubectl apply -k sidecar/
kubectl -n tekton-pipelines patch configmap config-events --type merge --patch-file sidecar/config-events-patch.yaml
kubectl -n vouch rollout status deployment/vouch-sidecar --timeout=180s

echo "== Tasks, the agent-pr-verify Pipeline and the GitHub Triggers (namespace vouch)"
kubectl -n vouch apply -f tasks/ -f pipelines/agent-pr-verify.yaml -f pipelines/triggers/
if ! kubectl -n vouch get secret vouch-github-webhook >/dev/null 2>&1; then
  kubectl -n vouch create secret generic vouch-github-webhook --from-literal=secretToken="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  echo "webhook secret: kubectl -n vouch get secret vouch-github-webhook -o jsonpath='{.data.secretToken}' | base64 -d"
fi

echo "== the OSV database (hack/osv-sync-job.yaml; needs egress to osv.dev's exports)"
kubectl -n vouch delete job vouch-osv-sync --ignore-not-found
kubectl -n vouch apply -f hack/osv-sync-job.yaml
kubectl -n vouch wait --for=condition=complete job/vouch-osv-sync --timeout=600s \
  || echo "kind-up: the OSV sync did not complete; the sca task fails until it does (kubectl -n vouch logs job/vouch-osv-sync)" >&2

cat <<'DONE'

vouch is up. Start a run (README.md, "On a cluster"):
  tkn -n vouch pipeline start agent-pr-verify \
    -p repo-url=https://github.com/OWNER/REPO.git -p base-revision=BASE_SHA -p head-revision=HEAD_SHA \
    -w name=source,volumeClaimTemplateFile=hack/source-workspace.yaml \
    -w name=osv-database,claimName=vouch-osv-database \
    --pod-template hack/pod-template.yaml --use-param-defaults --showlog
GitHub webhooks: kubectl -n vouch port-forward svc/el-vouch-github 8080 (or expose it) and point the webhook at it.
DONE
