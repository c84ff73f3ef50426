#!/usr/bin/env python3
"""MAVLink FTP written the way MAVSDK-Python's examples and docs use drone.ftp.

This is a MAVSDK-Python script. Only the lines marked "mavftp:" differ from
what it would be with MAVSDK-Python: the imports (``from mavsdk import System``,
``from mavsdk.ftp import FtpError``) and the connect line (MAVSDK-Python's
``udp://:14540`` is ``udpin://0.0.0.0:14540`` here).

    python ftp_mavsdk_style.py [SYSTEM_ADDRESS [WORK_DIR [REMOTE_FILE]]]
"""

import asyncio
import os
import sys

from mavftp import System  # mavftp: from mavsdk import System
from mavftp.ftp import FtpError  # mavftp: from mavsdk.ftp import FtpError

ADDRESS = sys.argv[1] if len(sys.argv) > 1 else "udpin://0.0.0.0:14540"
WORK_DIR = sys.argv[2] if len(sys.argv) > 2 else "."
REMOTE_FILE = sys.argv[3] if len(sys.argv) > 3 else "/fs/microsd/params"


async def run():
    drone = System()
    await drone.connect(system_address=ADDRESS)  # mavftp: await drone.connect(system_address="udp://:14540")

    print("Waiting for drone to connect...")
    async for state in drone.core.connection_state():
        if state.is_connected:
            print("-- Connected to drone!")
            break

    listing = await drone.ftp.list_directory("/")
    print(f"directories: {listing.dirs}")
    print(f"files: {listing.files}")

    print(f"-- Downloading {REMOTE_FILE}")
    async for update in drone.ftp.download(REMOTE_FILE, WORK_DIR, use_burst=True):
        print(f"Got {update.bytes_transferred} of {update.total_bytes} bytes")

    try:
        await drone.ftp.create_directory("/example")
    except FtpError as error:
        print(f"create_directory failed: {error._result.result}")

    hello = os.path.join(WORK_DIR, "hello.txt")
    with open(hello, "w") as f:
        f.write("hello from a MAVSDK-style script\n" * 200)
    print("-- Uploading hello.txt")
    async for update in drone.ftp.upload(hello, "/example"):
        print(f"Sent {update.bytes_transferred} of {update.total_bytes} bytes")

    identical = await drone.ftp.are_files_identical(hello, "/example/hello.txt")
    print(f"Files identical: {identical}")

    await drone.ftp.rename("/example/hello.txt", "/example/renamed.txt")
    print(f"after rename: {(await drone.ftp.list_directory('/example')).files}")

    try:
        async for update in drone.ftp.download("/example/missing.bin", WORK_DIR, use_burst=False):
            print(f"Got {update.bytes_transferred} of {update.total_bytes} bytes")
    except FtpError as error:
        print(f"Download failed: {error._result.result}")

    await drone.ftp.remove_file("/example/renamed.txt")
    await drone.ftp.remove_directory("/example")
    print("-- Done")


if __name__ == "__main__":
    # Run the asyncio loop
    asyncio.run(run())
