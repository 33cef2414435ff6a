"""Frame sources: RealSense (pyrealsense2). The sim camera lives in sim/, bags in apps/bag.py."""
