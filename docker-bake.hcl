// docker buildx bake: the four images of docker-compose.dev.yml and k8s/.
//   docker buildx bake                      # build all for the local platform
//   TAG=v1.2.3 docker buildx bake --push    # what the release workflow runs on tags
variable "REGISTRY" { default = "ghcr.io/llmaas" }
variable "TAG" { default = "dev" }

group "default" {
  targets = ["control-plane", "proxy", "llamacpp", "edge"]
}

target "_common" {
  context   = "."
  platforms = ["linux/amd64"]
  labels = {
    "org.opencontainers.image.source" = "https://github.com/llmaas/llmaas"
  }
}

target "control-plane" {
  inherits   = ["_common"]
  dockerfile = "deploy/docker/control-plane.Dockerfile"
  tags       = ["${REGISTRY}/control-plane:${TAG}"]
}

target "proxy" {
  inherits   = ["_common"]
  dockerfile = "deploy/docker/proxy.Dockerfile"
  tags       = ["${REGISTRY}/proxy:${TAG}"]
}

target "llamacpp" {
  inherits   = ["_common"]
  dockerfile = "deploy/docker/llamacpp.Dockerfile"
  tags       = ["${REGISTRY}/llamacpp:${TAG}"]
}

target "edge" {
  inherits   = ["_common"]
  dockerfile = "deploy/docker/edge.Dockerfile"
  tags       = ["${REGISTRY}/edge:${TAG}"]
}
