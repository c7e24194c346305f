"""The container check (`make container-check`): the three images built and run as compose runs them.

Its modules import one way, each only those before it: `errors`; `spec` (docker-compose.yml and an
image's run configuration, as Docker reads them) and `dockerfile` (the Dockerfiles' stages and what a
target inherits), which the container tests read too; `report`; `processes` (commands, process
groups, peak memory); `stand_in` (the base image built with debootstrap); `checks` (what both paths
check on the running stack); `buildah` (the podman path) and `compose` (the Docker path); `cli`.
"""
