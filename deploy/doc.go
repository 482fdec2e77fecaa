// Package deploy holds gpusmoke's fleet deployments (the Slurm batch script, the Kubernetes Job), the build of the Go-less bundle and the device check, and tests each of them.
package deploy
