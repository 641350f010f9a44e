"""Linux system interface: constants and a thin facade over ocirt._native."""
