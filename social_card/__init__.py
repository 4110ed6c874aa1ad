"""Social-security card (社保卡) services: status, loss reporting, replacement and
the electronic card code."""
