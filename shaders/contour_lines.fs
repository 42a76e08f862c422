/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Contour lines: iso-lines of the picture's brightness, like a topographic map of the image. The lines can climb through the levels over time; between them the picture dims.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Stylize"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "lineCount", "TYPE": "float", "LABEL": "Lines (over full brightness)", "MIN": 2.0, "MAX": 40.0, "DEFAULT": 12.0},
        {"NAME": "lineWidth", "TYPE": "float", "LABEL": "Line width (pixels)", "MIN": 0.5, "MAX": 6.0, "DEFAULT": 1.5},
        {"NAME": "speed", "TYPE": "float", "LABEL": "Climb speed (lines per second)", "MIN": -4.0, "MAX": 4.0, "DEFAULT": 0.5},
        {"NAME": "lineColor", "TYPE": "color", "LABEL": "Line colour", "DEFAULT": [0.2, 1.0, 0.85, 1.0]},
        {"NAME": "lineImageColor", "TYPE": "float", "LABEL": "Line takes image colour", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.3},
        {"NAME": "backgroundLevel", "TYPE": "float", "LABEL": "Picture between lines", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.15}
    ]
}*/

// Cost: one texture fetch per pixel; line anti-aliasing from fwidth() (no extra fetches).

void main() {
    vec4 source = IMG_THIS_NORM_PIXEL(inputImage);
    float height = dot(source.rgb, vec3(0.2126, 0.7152, 0.0722)) * lineCount + TIME * speed;
    float toLine = abs(fract(height + 0.5) - 0.5);  // 0 on a line, 0.5 halfway between
    float pixels = toLine / max(fwidth(height), 1e-4);  // that distance in screen pixels
    float line = 1.0 - smoothstep(lineWidth * 0.5 - 0.5, lineWidth * 0.5 + 0.5, pixels);
    vec3 ink = mix(lineColor.rgb, source.rgb * 1.5, lineImageColor);
    vec3 colour = mix(source.rgb * backgroundLevel, ink, line);
    gl_FragColor = vec4(colour, source.a);
}
