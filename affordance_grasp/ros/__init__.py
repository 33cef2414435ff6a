"""The ROS 2 adapter: thin nodes that convert messages to core types and back."""
