/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Feedback tunnel: every frame the last frame is zoomed, turned and faded behind the new picture, so the image streams into (or out of) an endless tunnel, its echoes drifting in hue.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Feedback"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "zoomSpeed", "TYPE": "float", "LABEL": "Zoom speed (per second; negative: outward)", "MIN": -2.0, "MAX": 2.0, "DEFAULT": 0.6},
        {"NAME": "turnSpeed", "TYPE": "float", "LABEL": "Turn speed (radians per second)", "MIN": -3.0, "MAX": 3.0, "DEFAULT": 0.4},
        {"NAME": "echoLife", "TYPE": "float", "LABEL": "Echo life (seconds to fade to a third)", "MIN": 0.05, "MAX": 4.0, "DEFAULT": 0.8},
        {"NAME": "hueDrift", "TYPE": "float", "LABEL": "Echo hue drift (turns per second)", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.15},
        {"NAME": "inputLevel", "TYPE": "float", "LABEL": "New picture level", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 1.0},
        {"NAME": "centre", "TYPE": "point2D", "LABEL": "Tunnel centre (0..1)", "MIN": [0.0, 0.0], "MAX": [1.0, 1.0], "DEFAULT": [0.5, 0.5]}
    ],
    "PASSES": [
        {"TARGET": "echoes", "PERSISTENT": true},
        {}
    ]
}*/

// Cost: two fetches per pixel in the feedback pass (the new picture and the last frame),
// one in the output pass. Zoom, turn and fade are scaled by TIMEDELTA so the tunnel moves
// at the same speed whatever the frame rate.

vec3 rotateHue(vec3 colour, float turns) {
    // rotation about the grey axis (Rodrigues' formula with axis (1,1,1)/sqrt(3))
    float angle = turns * 6.2832;
    vec3 axis = vec3(0.57735);
    float c = cos(angle);
    return colour * c + cross(axis, colour) * sin(angle) + axis * dot(axis, colour) * (1.0 - c);
}

void main() {
    vec2 uv = isf_FragNormCoord;
    if (PASSINDEX == 0) {
        float aspect = RENDERSIZE.x / RENDERSIZE.y;
        vec2 offset = (uv - centre) * vec2(aspect, 1.0);
        float angle = turnSpeed * TIMEDELTA;
        offset = mat2(cos(angle), sin(angle), -sin(angle), cos(angle)) * offset;
        offset *= exp(-zoomSpeed * TIMEDELTA);  // sampling closer in zooms the echo out
        vec2 from = centre + offset / vec2(aspect, 1.0);
        float inside = step(0.0, from.x) * step(from.x, 1.0) * step(0.0, from.y) * step(from.y, 1.0);
        vec3 echo = IMG_NORM_PIXEL(echoes, from).rgb * inside;
        echo = rotateHue(echo, hueDrift * TIMEDELTA) * exp(-TIMEDELTA * 1.1 / echoLife);
        // the target is 8-bit (a float one costs 4x the bandwidth): without this step a
        // dim echo rounds back to itself every frame and never fades out
        echo = max(echo - 0.75 / 255.0, 0.0);
        vec4 fresh = IMG_NORM_PIXEL(inputImage, uv);
        // the brighter of the new picture and the echo: echoes show through the dark parts
        gl_FragColor = vec4(max(fresh.rgb * inputLevel, clamp(echo, 0.0, 1.0)), 1.0);
    } else {
        gl_FragColor = IMG_NORM_PIXEL(echoes, uv);
    }
}
