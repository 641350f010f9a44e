"""Side-by-side benchmark of OCI runtimes (ocirt, runc, crun): `python3 -m bench`."""
